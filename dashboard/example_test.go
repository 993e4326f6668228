package dashboard_test

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/taskflow-go/taskflow/dashboard"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// The dashboard mounted under /taskflow/ of an application's mux. With
// zero Options it answers the local machine only.
func ExampleNew() {
	client, err := taskflow.NewClient(memstore.New(), taskflow.ClientOptions{})
	if err != nil {
		log.Fatal(err)
	}
	dash, err := dashboard.New(client, dashboard.Options{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/taskflow/", http.StripPrefix("/taskflow", dash))

	for _, remote := range []string{"127.0.0.1:50000", "203.0.113.9:50000"} {
		req := httptest.NewRequest(http.MethodGet, "http://localhost/taskflow/queues", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(remote, rec.Code)
	}
	// Output:
	// 127.0.0.1:50000 200
	// 203.0.113.9:50000 403
}

// A read-only dashboard open to the users an authentication check lets
// through, here HTTP basic authentication.
func ExampleOptions_authorize() {
	client, err := taskflow.NewClient(memstore.New(), taskflow.ClientOptions{})
	if err != nil {
		log.Fatal(err)
	}
	dash, err := dashboard.New(client, dashboard.Options{
		ReadOnly: true,
		Authorize: func(r *http.Request) bool {
			user, password, ok := r.BasicAuth()
			return ok && user == "ops" && password == "secret" // use a constant-time check and real secrets
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth("ops", "secret")
	rec := httptest.NewRecorder()
	dash.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output: 200
}

// Replicas behind a load balancer, and a dashboard restarted, accept the
// forms of each other's pages when they share the CSRF key: here read from
// the environment, where a deployment puts a secret of 32 random bytes or
// more (hex: 64 characters).
func ExampleOptions_csrfKey() {
	key, err := hex.DecodeString(cmp.Or(os.Getenv("TASKFLOW_DASHBOARD_CSRF_KEY"), strings.Repeat("ab", 32)))
	if err != nil {
		log.Fatal(err)
	}
	client, err := taskflow.NewClient(memstore.New(), taskflow.ClientOptions{})
	if err != nil {
		log.Fatal(err)
	}
	_, err = dashboard.New(client, dashboard.Options{CSRFKey: key})
	fmt.Println(err)
	// Output: <nil>
}

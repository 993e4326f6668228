package dashboard

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFlashFitsInACookie(t *testing.T) {
	for _, n := range []int{10, maxFlash, 20_000} {
		rec := httptest.NewRecorder()
		setFlash(rec, "/dash", flash{Message: strings.Repeat("é", n)})
		h := rec.Header().Get("Set-Cookie")
		if len(h) >= 4096 {
			t.Errorf("message of %d runes: Set-Cookie of %d bytes, over the browsers' limit", n, len(h))
		}
		req := httptest.NewRequest("GET", "/dash/", nil)
		req.Header.Set("Cookie", strings.SplitN(h, ";", 2)[0])
		f := takeFlash(httptest.NewRecorder(), req, "/dash")
		if f == nil || !strings.HasPrefix(strings.Repeat("é", n), strings.TrimSuffix(f.Message, "…")) {
			t.Errorf("message of %d runes: read back %v", n, f)
		}
	}
}

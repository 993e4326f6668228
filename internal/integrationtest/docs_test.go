package integrationtest_test

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docPrelude declares what the guides' fragments take as given: the
// packages they import, a context, stores and clients, and the example
// tasks and types they name. A declaration a guide makes itself replaces
// the prelude's of that name.
const docPrelude = `package docs

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/dashboard"
	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/storage/pgstore"
	"github.com/taskflow-go/taskflow/storage/redisstore"
	"github.com/taskflow-go/taskflow/storage/sqlitestore"
	"github.com/taskflow-go/taskflow/storage/storagetest"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowotel"
	"github.com/taskflow-go/taskflow/taskflow/taskflowprom"
	"github.com/taskflow-go/taskflow/taskflow/taskflowtest"
)

var _ = []any{fmt.Sprint, log.Println, http.StripPrefix, os.Getenv, testing.Short, time.Now,
	uuid.New, pgxpool.New, prometheus.MustRegister, redis.NewClient, dashboard.New, filters.Permanent,
	states.Marshal, memstore.New, pgstore.New, redisstore.New, sqlitestore.Open, storagetest.Run, taskflowotel.New,
	taskflowprom.New, taskflowtest.New}

var ctx = context.Background()

var store storage.Store = memstore.New()

var client *taskflow.Client

var pool *pgxpool.Pool

var cluster *redis.ClusterClient

var mux = http.NewServeMux()

var t *testing.T

var id uuid.UUID

var reg = taskflow.NewRegistry()

var cfg struct{ SMTP string }

type EmailArgs struct{ To, Subject string }

type Receipt struct{ MessageID string }

var SendEmail = taskflow.NewTask("send-email", func(context.Context, EmailArgs) (Receipt, error) { return Receipt{}, nil })

var tasks struct{ SendEmail *taskflow.Task[EmailArgs, Receipt] }

type Mailer struct{}

func NewMailer(string) *Mailer { return &Mailer{} }

func (*Mailer) Send(context.Context, EmailArgs) (Receipt, error) { return Receipt{}, nil }

type Upload struct{ Path string }

type Parsed struct{ Rows int }

type Image struct{ URL string }

var upload Upload

var images []Image

var name string

var Parse = taskflow.NewTask("parse", func(context.Context, Upload) (Parsed, error) { return Parsed{}, nil })

var Index = taskflow.NewTask("index", func(context.Context, Parsed) (int, error) { return 0, nil })

var Alert = taskflow.NewTask("alert", func(context.Context, string) (bool, error) { return true, nil })

var Resize = taskflow.NewTask("resize", func(context.Context, Image) (Image, error) { return Image{}, nil })

var Publish = taskflow.NewTask("publish", func(context.Context, string) (bool, error) { return true, nil })

var BuildReport = taskflow.NewTask("build-report", func(context.Context, string) (string, error) { return "", nil })

func readRows(string) []string { return nil }

func saveUser(context.Context, string) {}

type Order struct {
	ID    string
	Cents int
}

type ReceiptArgs struct{ Order string }

var sendReceipt = taskflow.NewTask("send-receipt", func(context.Context, ReceiptArgs) (bool, error) { return true, nil })

func checkout(context.Context, *taskflow.Client, Order) {}
`

var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")

// TestDocsCompile builds every Go block of the README and the guides under
// docs/. A block that is a whole file (it starts with "package") builds
// as it is; the others build in one package per page, on top of
// docPrelude: declarations as they are, statements each in a function of
// their own.
func TestDocsCompile(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, filepath.Join(root, "README.md"))
	// A directory under testdata is inside this module but outside ./...
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("testdata", "docs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	blocks := 0
	for _, page := range pages {
		md, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		var decls, stmts []string
		base := strings.TrimSuffix(filepath.Base(page), ".md")
		for i, m := range goBlock.FindAllStringSubmatch(string(md), -1) {
			blocks++
			src := m[1]
			switch {
			case strings.HasPrefix(src, "package "):
				write(t, filepath.Join(dir, fmt.Sprintf("%s_%d", base, i), "main.go"), src)
			case parses("package p\n" + src):
				decls = append(decls, src)
			case parses("package p\nfunc _() {\n" + src + "\n}"):
				stmts = append(stmts, src)
			default:
				t.Errorf("%s: Go block %d is neither declarations nor statements:\n%s", page, i+1, src)
			}
		}
		if len(decls)+len(stmts) > 0 {
			write(t, filepath.Join(dir, base, "doc.go"), fragments(t, decls, stmts))
		}
	}
	if blocks < 10 {
		t.Fatalf("found %d Go blocks in %d pages; the pattern must have missed some", blocks, len(pages))
	}
	out, err := exec.Command("go", "build", "./"+filepath.ToSlash(dir)+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("the docs' Go blocks do not build (generated under %s):\n%s", dir, out)
	}
}

func parses(src string) bool {
	_, err := parser.ParseFile(token.NewFileSet(), "", src, 0)
	return err == nil
}

func write(t *testing.T, path, src string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fragments returns one file: docPrelude without the declarations decls
// make again, then decls, then each block of stmts as the body of a
// function that uses every name the block declares.
func fragments(t *testing.T, decls, stmts []string) string {
	fset := token.NewFileSet()
	own := map[string]bool{}
	for _, d := range decls {
		f, err := parser.ParseFile(fset, "", "package p\n"+d, 0)
		if err != nil {
			t.Fatal(err)
		}
		for name := range declared(f.Decls) {
			own[name] = true
		}
	}
	prelude, err := parser.ParseFile(fset, "", docPrelude, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	kept := prelude.Decls[:0]
	for _, d := range prelude.Decls {
		clash := false
		for name := range declared([]ast.Decl{d}) {
			clash = clash || own[name]
		}
		if !clash {
			kept = append(kept, d)
		}
	}
	prelude.Decls = kept
	var b bytes.Buffer
	if err := printer.Fprint(&b, fset, prelude); err != nil {
		t.Fatal(err)
	}
	for _, d := range decls {
		b.WriteString("\n" + d + "\n")
	}
	for _, s := range stmts {
		f, err := parser.ParseFile(fset, "", "package p\nfunc _() {\n"+s+"\n}", 0)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("\nfunc _() {\n" + s + "\n")
		for _, st := range f.Decls[0].(*ast.FuncDecl).Body.List {
			for name := range definedBy(st) {
				b.WriteString("\t_ = " + name + "\n")
			}
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// declared returns the names that top-level decls declare.
func declared(decls []ast.Decl) map[string]bool {
	names := map[string]bool{}
	for _, d := range decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				names[d.Name.Name] = true
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					for _, n := range s.Names {
						names[n.Name] = true
					}
				case *ast.TypeSpec:
					names[s.Name.Name] = true
				}
			}
		}
	}
	return names
}

// definedBy returns the variables a statement of a function body defines.
func definedBy(st ast.Stmt) map[string]bool {
	names := map[string]bool{}
	switch st := st.(type) {
	case *ast.AssignStmt:
		if st.Tok == token.DEFINE {
			for _, e := range st.Lhs {
				if id, ok := e.(*ast.Ident); ok && id.Name != "_" {
					names[id.Name] = true
				}
			}
		}
	case *ast.DeclStmt:
		for name := range declared([]ast.Decl{st.Decl}) {
			names[name] = true
		}
	}
	return names
}

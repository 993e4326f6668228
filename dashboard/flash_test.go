package dashboard

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFlashFitsInACookie(t *testing.T) {
	for _, tt := range []struct {
		s string
		n int
	}{{"é", 10}, {"é", 1500}, {"é", 20_000}, {"<", 1400}, {"\x01", 5000}} { // < and controls take 6 bytes in JSON
		n := tt.n
		rec := httptest.NewRecorder()
		setFlash(rec, "/dash", flash{Message: strings.Repeat(tt.s, n)})
		h := rec.Header().Get("Set-Cookie")
		if len(h) >= 4096 {
			t.Errorf("message of %d runes: Set-Cookie of %d bytes, over the browsers' limit", n, len(h))
		}
		req := httptest.NewRequest("GET", "/dash/", nil)
		req.Header.Set("Cookie", strings.SplitN(h, ";", 2)[0])
		f := takeFlash(httptest.NewRecorder(), req, "/dash")
		if f == nil || !strings.HasPrefix(strings.Repeat(tt.s, n), strings.TrimSuffix(f.Message, "…")) {
			t.Errorf("message of %d runes: read back %v", n, f)
		}
	}
}

package admin

import (
	"net/http"
	"strings"
)

// ContentSecurityPolicy is every admin response's policy but River UI's:
// scripts, styles, images and fetches from this origin only, nothing inline
// (the inspector keeps its script and styles in files for this), no
// plugins, no <base>, forms post here only, and no page may frame it.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// QueueContentSecurityPolicy is River UI's: its bundle injects <style>
// elements at run time (toasts, theme switching), so styles may be inline;
// scripts still come from this origin only.
const QueueContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// securityHeaders sets the headers a browser needs to keep the admin pages
// from being framed (clickjacking River UI's cancel button), sniffed into
// another type, leaking their URLs (SIDs in queries) as a Referer, or
// running injected script. It wraps everything, so errors and 401s carry
// them too.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		csp := ContentSecurityPolicy
		if strings.HasPrefix(r.URL.Path, QueuePrefix+"/") {
			csp = QueueContentSecurityPolicy
		}
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

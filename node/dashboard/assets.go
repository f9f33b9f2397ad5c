package dashboard

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// dist holds the built front end (web/ built by `make dashboard`). A clean
// clone has only dist/README.md there, so the Go code builds before the
// assets do; the page then says how to build them.
//
//go:embed dist
var dist embed.FS

//go:embed web/index.html web/unbuilt.html
var pages embed.FS

// servedExt lists what the asset handler serves from dist: the bundle, not
// the placeholder.
var servedExt = map[string]bool{".js": true, ".css": true, ".map": true, ".svg": true, ".png": true, ".woff2": true}

// asset is one built file, hashed for cache busting and gzipped once.
type asset struct {
	body, gz []byte
	etag     string
	ctype    string
}

// assetSet is the bundle, read from dist once.
type assetSet struct {
	files map[string]*asset
	err   error
}

// loadAssets reads and compresses the bundle; a Handler does it once.
func loadAssets() assetSet {
	set := assetSet{files: make(map[string]*asset)}
	set.err = fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !servedExt[path.Ext(p)] {
			return err
		}
		body, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: mime.TypeByExtension(path.Ext(p))}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression) // the level is valid
		if _, err := zw.Write(body); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if gz.Len() < len(body) {
			a.gz = gz.Bytes()
		}
		set.files[strings.TrimPrefix(p, "dist/")] = a
		return nil
	})
	return set
}

// built reports whether the bundle is present.
func (s assetSet) built() bool { return s.files["app.js"] != nil && s.files["app.css"] != nil }

// version returns the cache-busting token of a file.
func (s assetSet) version(name string) string {
	if a := s.files[name]; a != nil {
		return strings.Trim(a.etag, `"`)
	}
	return ""
}

// assetHandler serves the bundle. URLs carry ?v=<hash>, so a matching
// request may be cached for good; anything else is revalidated.
func (set assetSet) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := set.files[strings.TrimPrefix(r.URL.Path, "/")]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("ETag", a.etag)
		h.Set("Vary", "Accept-Encoding")
		if v := r.URL.Query().Get("v"); v != "" && `"`+v+`"` == a.etag {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		body := a.body
		if a.gz != nil && acceptsGzip(r) {
			h.Set("Content-Encoding", "gzip")
			body = a.gz
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// pageData fills the page template.
type pageData struct {
	Prefix, JS, CSS, NodeID string
}

// parsePage returns the page template, or the how-to-build page when the
// bundle is missing.
func parsePage(set assetSet) (*template.Template, error) {
	if set.err != nil {
		return nil, fmt.Errorf("dashboard: reading embedded assets: %w", set.err)
	}
	name := "web/index.html"
	if !set.built() {
		name = "web/unbuilt.html"
	}
	t, err := template.ParseFS(pages, name)
	if err != nil {
		return nil, fmt.Errorf("dashboard: page template: %w", err)
	}
	return t, nil
}

func (h *Handler) serveIndex(w http.ResponseWriter, _ *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-cache")
	// Everything the page loads comes from this node: no CDN, no inline
	// script, so a strict policy costs nothing.
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	var b bytes.Buffer
	err := h.page.Execute(&b, pageData{Prefix: h.cfg.Prefix, JS: h.assets.version("app.js"), CSS: h.assets.version("app.css"), NodeID: h.src.Info().GetNodeId()})
	if err != nil {
		h.log.Warn("dashboard: page", "err", err)
		http.Error(w, "dashboard page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = b.WriteTo(w) // the page may have gone; nothing to do about it
}

package blob_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGCS speaks the part of Cloud Storage's JSON API (storage/v1) the
// store uses, as the service does: resumable uploads (a session URI,
// chunks with Content-Range, 308 until the last one, DELETE to cancel),
// media downloads, paged lists in name order with sizes as strings, and
// deletes; object names escaped whole in paths. Pages hold one object, so
// every list pages.
type fakeGCS struct {
	srv *httptest.Server

	mu       sync.Mutex
	buckets  map[string]map[string]fakeObject
	sessions map[string]*fakeSession
	nextID   int
	// failGets answers the next GETs 503 (a transient error to retry).
	failGets int
}

type fakeObject struct {
	data    []byte
	updated time.Time
}

type fakeSession struct {
	bucket, name string
	data         []byte
}

func newFakeGCS(t *testing.T, buckets ...string) *fakeGCS {
	f := &fakeGCS{buckets: map[string]map[string]fakeObject{}, sessions: map[string]*fakeSession{}}
	for _, b := range buckets {
		f.buckets[b] = map[string]fakeObject{}
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// objects returns the names in bucket.
func (f *fakeGCS) objects(bucket string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n := range f.buckets[bucket] {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func gcsErr(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func (f *fakeGCS) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodGet && f.failGets > 0 {
		f.failGets--
		gcsErr(w, http.StatusServiceUnavailable, "backend error")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, p := range parts {
		parts[i], _ = url.PathUnescape(p)
	}
	switch {
	case len(parts) == 6 && strings.Join(parts[:3], "/") == "upload/storage/v1" && parts[3] == "b" && parts[5] == "o":
		f.upload(w, r, parts[4])
	case len(parts) == 5 && strings.Join(parts[:3], "/") == "storage/v1/b" && parts[4] == "o" && r.Method == http.MethodGet:
		f.list(w, r, parts[3])
	case len(parts) == 6 && strings.Join(parts[:3], "/") == "storage/v1/b" && parts[4] == "o":
		f.object(w, r, parts[3], parts[5])
	default:
		gcsErr(w, http.StatusNotFound, "no such API: "+r.URL.Path)
	}
}

func (f *fakeGCS) upload(w http.ResponseWriter, r *http.Request, bucket string) {
	objs, ok := f.buckets[bucket]
	if !ok {
		gcsErr(w, http.StatusNotFound, "bucket "+bucket+" not found")
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost && q.Get("uploadType") == "resumable" {
		f.nextID++
		id := strconv.Itoa(f.nextID)
		f.sessions[id] = &fakeSession{bucket: bucket, name: q.Get("name")}
		w.Header().Set("Location", f.srv.URL+r.URL.Path+"?uploadType=resumable&upload_id="+id)
		w.WriteHeader(http.StatusOK)
		return
	}
	s, ok := f.sessions[q.Get("upload_id")]
	if !ok {
		gcsErr(w, http.StatusNotFound, "no such upload session")
		return
	}
	if r.Method == http.MethodDelete {
		delete(f.sessions, q.Get("upload_id"))
		w.WriteHeader(499)
		return
	}
	body, _ := io.ReadAll(r.Body)
	start, total, err := contentRange(r.Header.Get("Content-Range"), len(body))
	if err != nil || start != len(s.data) {
		gcsErr(w, http.StatusBadRequest, fmt.Sprintf("bad Content-Range %q at %d: %v", r.Header.Get("Content-Range"), len(s.data), err))
		return
	}
	s.data = append(s.data, body...)
	if total < 0 {
		w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", len(s.data)-1))
		w.WriteHeader(http.StatusPermanentRedirect)
		return
	}
	if total != len(s.data) {
		gcsErr(w, http.StatusBadRequest, "size mismatch")
		return
	}
	delete(f.sessions, q.Get("upload_id"))
	objs[s.name] = fakeObject{data: s.data, updated: time.Now().UTC()}
	json.NewEncoder(w).Encode(map[string]string{"name": s.name, "bucket": bucket, "size": strconv.Itoa(total)})
}

// contentRange parses "bytes a-b/total" or "bytes */total" (total "*" →
// -1) and checks it against the body's length.
func contentRange(h string, n int) (start, total int, err error) {
	spec, ok := strings.CutPrefix(h, "bytes ")
	rng, tot, ok2 := strings.Cut(spec, "/")
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("malformed")
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.Atoi(tot); err != nil {
			return 0, 0, err
		}
	}
	if rng == "*" {
		if n != 0 {
			return 0, 0, fmt.Errorf("a body with range *")
		}
		return total, total, nil
	}
	a, b, _ := strings.Cut(rng, "-")
	start, err1 := strconv.Atoi(a)
	end, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || end-start+1 != n {
		return 0, 0, fmt.Errorf("range %s does not match %d bytes", rng, n)
	}
	return start, total, nil
}

func (f *fakeGCS) list(w http.ResponseWriter, r *http.Request, bucket string) {
	objs, ok := f.buckets[bucket]
	if !ok {
		gcsErr(w, http.StatusNotFound, "bucket "+bucket+" not found")
		return
	}
	prefix, token := r.URL.Query().Get("prefix"), r.URL.Query().Get("pageToken")
	var names []string
	for n := range objs {
		if strings.HasPrefix(n, prefix) && n > token {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	type item struct {
		Name    string `json:"name"`
		Size    string `json:"size"`
		Updated string `json:"updated"`
	}
	out := struct {
		Kind          string `json:"kind"`
		Items         []item `json:"items,omitempty"`
		NextPageToken string `json:"nextPageToken,omitempty"`
	}{Kind: "storage#objects"}
	for _, n := range names[:min(1, len(names))] {
		o := objs[n]
		out.Items = append(out.Items, item{n, strconv.Itoa(len(o.data)), o.updated.Format(time.RFC3339Nano)})
	}
	if len(names) > 1 {
		out.NextPageToken = names[0]
	}
	json.NewEncoder(w).Encode(out)
}

func (f *fakeGCS) object(w http.ResponseWriter, r *http.Request, bucket, name string) {
	o, ok := f.buckets[bucket][name]
	if !ok {
		gcsErr(w, http.StatusNotFound, "No such object: "+bucket+"/"+name)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Get("alt") == "media":
		w.Header().Set("Content-Length", strconv.Itoa(len(o.data)))
		w.Write(o.data)
	case r.Method == http.MethodDelete:
		delete(f.buckets[bucket], name)
		w.WriteHeader(http.StatusNoContent)
	default:
		gcsErr(w, http.StatusBadRequest, "unsupported")
	}
}

package blob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// GCS is a Store in a Cloud Storage bucket, under an optional key prefix,
// spoken to over the JSON API (storage/v1) with net/http. Uploads are
// resumable sessions sent in chunks, so an object of any size is never held
// in memory; an upload that fails or is cancelled is never finalized, so no
// partial object appears.
type GCS struct {
	hc       *http.Client
	endpoint string // "https://storage.googleapis.com" or an emulator's URL
	bucket   string
	prefix   string // "" or ending in "/"
}

// DefaultGCSEndpoint is Cloud Storage's public endpoint.
const DefaultGCSEndpoint = "https://storage.googleapis.com"

// NewGCS returns a Store in bucket, calling the JSON API at endpoint
// (DefaultGCSEndpoint, or an emulator's http://host:port) with hc, which
// must add the credentials (oauth2's client does). prefix, when set, is put
// before every key.
func NewGCS(hc *http.Client, endpoint, bucket, prefix string) (*GCS, error) {
	if bucket == "" {
		return nil, errors.New("blob: bucket name is empty")
	}
	if prefix != "" {
		if err := checkPrefix(prefix, false); err != nil {
			return nil, err
		}
		if prefix[len(prefix)-1] != '/' {
			prefix += "/"
		}
	}
	return &GCS{hc: hc, endpoint: strings.TrimRight(endpoint, "/"), bucket: bucket, prefix: prefix}, nil
}

// Describe implements Store.
func (g *GCS) Describe() string { return "gs://" + g.bucket + "/" + g.prefix }

// objectURL is the JSON API's URL of an object (the name escaped whole,
// slashes included, as the API requires).
func (g *GCS) objectURL(name string) string {
	return g.endpoint + "/storage/v1/b/" + url.PathEscape(g.bucket) + "/o/" + url.PathEscape(name)
}

// chunkSize is the resumable upload's chunk (the only part of an object
// held in memory); the API wants a multiple of 256 KiB.
const chunkSize = 8 << 20

// Put implements Store.
func (g *GCS) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := CheckKey(key); err != nil {
		return 0, err
	}
	name := g.prefix + key
	n, err := g.upload(ctx, name, r)
	if err != nil {
		return n, fmt.Errorf("blob put gs://%s/%s: %w", g.bucket, name, err)
	}
	return n, nil
}

// upload sends r as object name in a resumable session: every chunk but
// the last says the total is unknown ("bytes a-b/*"); the last one gives
// it, which finalizes the object. On any failure the session is cancelled.
func (g *GCS) upload(ctx context.Context, name string, r io.Reader) (int64, error) {
	session, err := g.startUpload(ctx, name)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, chunkSize)
	var sent int64
	for {
		n, rerr := io.ReadFull(r, buf)
		last := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
		if rerr != nil && !last {
			g.cancelUpload(session)
			return sent, rerr
		}
		if err := g.putChunk(ctx, session, buf[:n], sent, last); err != nil {
			g.cancelUpload(session)
			return sent, err
		}
		sent += int64(n)
		if last {
			return sent, nil
		}
	}
}

func (g *GCS) startUpload(ctx context.Context, name string) (string, error) {
	u := g.endpoint + "/upload/storage/v1/b/" + url.PathEscape(g.bucket) + "/o?uploadType=resumable&name=" + url.QueryEscape(name)
	meta, _ := json.Marshal(map[string]string{"name": name, "contentType": "application/gzip"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(meta))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Header.Set("X-Upload-Content-Type", "application/gzip")
	resp, err := g.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("start upload: %w", err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("start upload: %w", apiError(resp))
	}
	session := resp.Header.Get("Location")
	if session == "" {
		return "", errors.New("start upload: no session URI in the answer")
	}
	return session, nil
}

// putChunk sends chunk at offset off of the session. A middle chunk is
// acknowledged with 308 (Resume Incomplete); the last with 200 or 201.
func (g *GCS) putChunk(ctx context.Context, session string, chunk []byte, off int64, last bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, session, bytes.NewReader(chunk))
	if err != nil {
		return err
	}
	total := "*"
	if last {
		total = strconv.FormatInt(off+int64(len(chunk)), 10)
	}
	if len(chunk) == 0 {
		req.Header.Set("Content-Range", "bytes */"+total)
	} else {
		req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%s", off, off+int64(len(chunk))-1, total))
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		return fmt.Errorf("upload chunk at %d: %w", off, err)
	}
	defer drain(resp)
	switch {
	case !last && resp.StatusCode == http.StatusPermanentRedirect:
		return nil
	case last && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated):
		return nil
	}
	return fmt.Errorf("upload chunk at %d: %w", off, apiError(resp))
}

// cancelUpload ends a session that will not be finished (best effort: an
// unfinished session is never committed and expires after a week anyway).
func (g *GCS) cancelUpload(session string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, session, nil)
	if err != nil {
		return
	}
	if resp, err := g.hc.Do(req); err == nil {
		drain(resp)
	}
}

// Get implements Store.
func (g *GCS) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	resp, err := g.do(ctx, http.MethodGet, g.objectURL(g.prefix+key)+"?alt=media")
	if err != nil {
		return nil, fmt.Errorf("blob get gs://%s/%s: %w", g.bucket, g.prefix+key, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		drain(resp)
		return nil, fmt.Errorf("blob get %s: %w", key, ErrNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		defer drain(resp)
		return nil, fmt.Errorf("blob get gs://%s/%s: %w", g.bucket, g.prefix+key, apiError(resp))
	}
	return resp.Body, nil
}

// objectList is the JSON API's answer to objects.list (the fields read).
type objectList struct {
	Items []struct {
		Name    string    `json:"name"`
		Size    string    `json:"size"` // int64 as a JSON string
		Updated time.Time `json:"updated"`
	} `json:"items"`
	NextPageToken string `json:"nextPageToken"`
}

// List implements Store.
func (g *GCS) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := checkPrefix(prefix, true); err != nil {
		return nil, err
	}
	full := g.prefix + prefix
	var out []Object
	for token := ""; ; {
		page, err := g.listPage(ctx, full, token)
		if err != nil {
			return nil, fmt.Errorf("blob list gs://%s/%s: %w", g.bucket, full, err)
		}
		for _, it := range page.Items {
			size, err := strconv.ParseInt(it.Size, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("blob list gs://%s/%s: object %s has size %q", g.bucket, full, it.Name, it.Size)
			}
			out = append(out, Object{Key: strings.TrimPrefix(it.Name, g.prefix), Size: size, Updated: it.Updated})
		}
		if token = page.NextPageToken; token == "" {
			return out, nil // the API lists in key order
		}
	}
}

func (g *GCS) listPage(ctx context.Context, prefix, token string) (*objectList, error) {
	q := url.Values{"prefix": {prefix}, "fields": {"items(name,size,updated),nextPageToken"}}
	if token != "" {
		q.Set("pageToken", token)
	}
	resp, err := g.do(ctx, http.MethodGet, g.endpoint+"/storage/v1/b/"+url.PathEscape(g.bucket)+"/o?"+q.Encode())
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(resp)
	}
	var page objectList
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, fmt.Errorf("decode objects.list: %w", err)
	}
	return &page, nil
}

// Delete implements Store.
func (g *GCS) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	resp, err := g.do(ctx, http.MethodDelete, g.objectURL(g.prefix+key))
	if err != nil {
		return fmt.Errorf("blob delete gs://%s/%s: %w", g.bucket, g.prefix+key, err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("blob delete gs://%s/%s: %w", g.bucket, g.prefix+key, apiError(resp))
	}
	return nil
}

// DeletePrefix implements Store.
func (g *GCS) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if err := checkPrefix(prefix, false); err != nil {
		return 0, err
	}
	objs, err := g.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range objs {
		if err := g.Delete(ctx, o.Key); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// retryWaits are the pauses before the retries of an idempotent call
// (GET, DELETE) that failed in transit or with 429 or 5xx, as Cloud
// Storage asks clients to retry.
var retryWaits = []time.Duration{500 * time.Millisecond, 2 * time.Second}

// do sends an idempotent body-less request, retrying transient failures.
func (g *GCS) do(ctx context.Context, method, u string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := g.hc.Do(req)
		transient := err != nil || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		if !transient || attempt == len(retryWaits) || ctx.Err() != nil {
			return resp, err
		}
		drain(resp)
		t := time.NewTimer(retryWaits[attempt])
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// gcsError is a Cloud Storage JSON API error answer.
type gcsError struct {
	Code    int
	Message string
}

func (e *gcsError) Error() string { return fmt.Sprintf("cloud storage: %d %s", e.Code, e.Message) }

// apiError reads the JSON API's error body ({"error": {"code", "message"}}).
func apiError(resp *http.Response) error {
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := http.StatusText(resp.StatusCode)
	if json.Unmarshal(raw, &body) == nil && body.Error.Message != "" {
		msg = body.Error.Message
	} else if s := strings.TrimSpace(string(raw)); s != "" {
		msg = s
	}
	return &gcsError{Code: resp.StatusCode, Message: msg}
}

// drain reads what is left of a body (so the connection is reused) and
// closes it.
func drain(resp *http.Response) {
	if resp == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

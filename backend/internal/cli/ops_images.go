package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/clarateach/backend/internal/controlplane/agentclient"
)

// imagesSynopsis is the flags every images command takes.
const imagesSynopsis = "[AGENT_URL] [--token T] [--cert FILE] [--timeout D] [--json]"

// imagesAbout says which agents the images commands ask.
const imagesAbout = `
AGENT_URL may be https://HOST:9090, HOST:PORT or a bare IP (port 9090); the
agent token is --token, else FC_AGENT_TOKEN. Without AGENT_URL, the agent of
every running workshop recorded in the database (DATABASE_URL), each once,
with its own token and pinned certificate. Only agents that run seats on
images (the sandbox runtime, as root) have an image cache.`

// imagesFlags are the images commands' shared flags.
type imagesFlags struct {
	*opFlags
	tok, cert *string
	timeout   *time.Duration
}

func newImagesFlags(name, about string, stderr io.Writer) *imagesFlags {
	f := &imagesFlags{opFlags: newOpFlags("images "+name, imagesSynopsis, about+"\n"+imagesAbout, stderr)}
	f.tok = f.String("token", "", "agent token for AGENT_URL (default FC_AGENT_TOKEN)")
	f.cert = f.String("cert", "", "PEM certificate to pin for an https AGENT_URL (the VM's agent-tls-cert metadata)")
	f.timeout = f.Duration("timeout", 30*time.Second, "how long to wait for each agent")
	return f
}

// agentImages is one agent's images, or why there are none.
type agentImages struct {
	AgentURL string              `json:"agent_url"`
	Images   []agentclient.Image `json:"images"`
	Error    string              `json:"error,omitempty"`
}

// imageAgents are the agents an images command asks: AGENT_URL, else each
// running workshop's agent once.
func (f *imagesFlags) agents(ctx context.Context, pos []string, stderr io.Writer) ([]healthTarget, error) {
	targets, err := healthTargets(ctx, pos, *f.tok, *f.cert, true, stderr)
	if err != nil {
		return nil, err
	}
	if len(pos) == 1 && targets[0].token == "" {
		return nil, errors.New("no agent token: give --token or set FC_AGENT_TOKEN")
	}
	seen := map[string]bool{}
	out := targets[:0]
	for _, t := range targets {
		if !seen[t.AgentURL] {
			seen[t.AgentURL] = true
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no running workshops with an agent in the database: give AGENT_URL")
	}
	return out, nil
}

// forEachAgent runs call against every agent, one after the other.
func (f *imagesFlags) forEachAgent(ctx context.Context, targets []healthTarget, call func(context.Context, *agentclient.Client) ([]agentclient.Image, error)) []agentImages {
	var out []agentImages
	for _, t := range targets {
		ac := agentclient.Connect(agentclient.Endpoint{URL: t.AgentURL, Token: t.token, CertPEM: t.cert}, nil, *f.timeout)
		cctx, cancel := context.WithTimeout(ctx, *f.timeout)
		ims, err := call(cctx, ac)
		cancel()
		r := agentImages{AgentURL: t.AgentURL, Images: ims}
		if r.Images == nil {
			r.Images = []agentclient.Image{}
		}
		if err != nil {
			r.Error = shortErr(err)
		}
		out = append(out, r)
	}
	return out
}

func runImagesList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newImagesFlags("list", `
Lists the OCI images in an agent's cache (GET /images): reference, digest,
unpacked size, when pulled and last used, and how many seats run on each.`, stderr)
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	targets, err := f.agents(ctx, pos, stderr)
	if err != nil {
		return err
	}
	res := f.forEachAgent(ctx, targets, func(ctx context.Context, ac *agentclient.Client) ([]agentclient.Image, error) {
		return ac.ListImages(ctx)
	})
	if err := printImages(stdout, f.json, res, "No images in the cache."); err != nil {
		return err
	}
	return imagesProblems(res)
}

func runImagesPrune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newImagesFlags("prune", `
Removes from an agent's cache (POST /images/prune) the images not used for
--unused-for (or all of them: --all), then, while the cache's disk has less free space than the
agent keeps (2 GiB by default), the least recently used ones. An image a
seat runs on is never removed. Prints the images removed.`, stderr)
	unused := f.Duration("unused-for", 7*24*time.Hour, "remove images not used for this long (0s: none by age)")
	all := f.Bool("all", false, "remove every image no seat runs on, whatever its age")
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	if *unused < 0 {
		return fmt.Errorf("--unused-for must not be negative, not %s", *unused)
	}
	targets, err := f.agents(ctx, pos, stderr)
	if err != nil {
		return err
	}
	res := f.forEachAgent(ctx, targets, func(ctx context.Context, ac *agentclient.Client) ([]agentclient.Image, error) {
		return ac.PruneImages(ctx, agentclient.PruneImagesRequest{UnusedForSeconds: int64(unused.Seconds()), All: *all})
	})
	if err := printImages(stdout, f.json, res, "Nothing to prune."); err != nil {
		return err
	}
	return imagesProblems(res)
}

// printImages writes each agent's images as a table (or JSON).
func printImages(stdout io.Writer, asJSON bool, res []agentImages, none string) error {
	if asJSON {
		return writeJSON(stdout, map[string]any{"agents": res})
	}
	for i, r := range res {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if len(res) > 1 {
			fmt.Fprintf(stdout, "%s:\n", r.AgentURL)
		}
		switch {
		case r.Error != "":
			fmt.Fprintf(stdout, "  error: %s\n", r.Error)
			continue
		case len(r.Images) == 0:
			fmt.Fprintln(stdout, none)
			continue
		}
		t := newTable(stdout, "REF", "DIGEST", "SIZE", "PULLED", "LAST_USED", "SEATS")
		for _, im := range r.Images {
			t.row(truncate(im.Ref, 60), shortDigest(im.Digest), fmt.Sprintf("%.1f MB", float64(im.Bytes)/1e6), stamp(im.PulledAt), stamp(im.LastUsed), strconv.Itoa(im.SeatsUsed))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}

// shortDigest is sha256:<first 12 hex digits>.
func shortDigest(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

// imagesProblems is the command's error: nil when every agent answered.
func imagesProblems(res []agentImages) error {
	var problems []string
	for _, r := range res {
		if r.Error != "" {
			problems = append(problems, r.AgentURL+": "+r.Error)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

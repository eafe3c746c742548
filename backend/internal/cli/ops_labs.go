package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/clarateach/backend/internal/controlplane/lab"
)

// readLabPath loads a lab folder, or a .zip/.tar.gz of one.
func readLabPath(path string) (lab.Files, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return lab.ReadDir(os.DirFS(path))
	}
	if st.Size() > lab.MaxTotal {
		return nil, fmt.Errorf("%s is %d bytes; a lab archive is at most %d", path, st.Size(), lab.MaxTotal)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return lab.ReadArchive(data)
}

type labCheckOut struct {
	Valid    bool            `json:"valid"`
	Format   string          `json:"format,omitempty"`
	Title    string          `json:"title,omitempty"`
	Steps    []string        `json:"steps,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	Problems []labProblemOut `json:"problems,omitempty"`
}

type labProblemOut struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
	Text    string `json:"text"` // FILE:LINE: message
}

// runLabsValidate checks a lab the way the server will before a workshop
// can use it, and prints every problem with its file and line.
func runLabsValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("labs validate", "PATH [--json]", `
Checks a lab before you upload it: PATH is a lab folder, or a .zip or
.tar.gz of one. ClaraTeach labs (lab.yaml), Killercoda scenarios
(index.json) and single-host Instruqt tracks (track.yml) are understood.
Every problem is printed as FILE:LINE: message; the exit code is 1 when the
lab is not valid. Nothing is sent anywhere.`, stderr)
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		f.Usage()
		return errors.New("give the lab's folder or archive")
	}
	files, err := readLabPath(pos[0])
	if err != nil {
		return err
	}
	l, format, err := lab.Import(files)
	out := labCheckOut{Format: string(format)}
	if err != nil {
		ps := lab.Problems(err)
		if ps == nil {
			return err
		}
		for _, p := range ps {
			out.Problems = append(out.Problems, labProblemOut{File: p.File, Line: p.Line, Message: p.Msg, Text: p.String()})
		}
	} else {
		out.Valid, out.Title, out.Warnings = true, l.Title, l.Warnings
		for _, s := range l.Steps {
			out.Steps = append(out.Steps, s.ID+": "+s.Title)
		}
	}
	if f.json {
		if err := writeJSON(stdout, out); err != nil {
			return err
		}
	} else {
		for _, p := range out.Problems {
			fmt.Fprintln(stdout, p.Text)
		}
		if out.Valid {
			fmt.Fprintf(stdout, "%s lab %q is valid: %d steps\n", out.Format, out.Title, len(out.Steps))
			for _, s := range out.Steps {
				fmt.Fprintln(stdout, "  "+s)
			}
		}
		for _, w := range out.Warnings {
			fmt.Fprintln(stdout, "warning: "+w)
		}
	}
	if !out.Valid {
		return fmt.Errorf("%s: %d problems", pos[0], len(out.Problems))
	}
	return nil
}

// runLabsPack writes a lab (in any understood format) as a ClaraTeach lab
// folder in a .tar.gz, the form the server stores and exports.
func runLabsPack(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newOpFlags("labs pack", "PATH -o FILE.tar.gz", `
Converts a lab (a ClaraTeach, Killercoda or Instruqt folder, or an archive of
one) into a ClaraTeach lab folder packed as .tar.gz: what POST /api/labs
stores and GET /api/labs/{id}/export gives back.`, stderr)
	outPath := f.String("o", "", "where to write the .tar.gz (required)")
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *outPath == "" {
		f.Usage()
		return errors.New("give the lab's folder or archive, and -o FILE")
	}
	files, err := readLabPath(pos[0])
	if err != nil {
		return err
	}
	l, _, err := lab.Import(files)
	if err != nil {
		return err
	}
	canon, err := lab.Export(l)
	if err != nil {
		return err
	}
	data, err := canon.TarGz()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*outPath, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes, %d steps)\n", *outPath, len(data), len(l.Steps))
	return nil
}

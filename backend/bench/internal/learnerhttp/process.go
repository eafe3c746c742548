package learnerhttp

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// The load process protocol, shared by the benches that run their learners
// in a process of their own (the bench's own executable, run again with
// its load flags): the load process builds its learners, prints "ready"
// and waits for a line on standard input; then it storms and writes its
// result as one JSON value on standard output.

// Process is a load process as the bench sees it.
type Process struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// StartProcess runs this executable again with args and waits until it is
// ready; a process that does not get there is killed.
func StartProcess(args ...string) (*Process, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("load process: %w", err)
	}
	out := bufio.NewReader(outPipe)
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("load process: %q %v", line, err)
	}
	return &Process{cmd: cmd, in: in, out: out}, nil
}

// Go starts the storm, decodes the process's result into result, and
// waits for the process to end.
func (p *Process) Go(result any) error {
	defer p.cmd.Wait()
	if _, err := io.WriteString(p.in, "go\n"); err != nil {
		return fmt.Errorf("load process: %w", err)
	}
	if err := json.NewDecoder(p.out).Decode(result); err != nil {
		return fmt.Errorf("load process's result: %w", err)
	}
	return nil
}

// AwaitStart is the load process's side of the start: it says "ready" and
// waits for the bench's go.
func AwaitStart() error {
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for the start: %w", err)
	}
	return nil
}

// Report writes the load process's result for Process.Go.
func Report(result any) error {
	return json.NewEncoder(os.Stdout).Encode(result)
}

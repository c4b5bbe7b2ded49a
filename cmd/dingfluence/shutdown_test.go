package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Stopping the server is a clean exit: SIGINT or SIGTERM (docker stop) to
// the binary ends it with status 0 once it has shut down; and Ctrl-C on
// `make run` (SIGINT to the whole foreground process group, as a terminal
// sends it) reports no error. make itself, like any program a terminal
// interrupts, then ends by the same SIGINT once its child is done, so the
// shell says 130 and prints nothing; it reported "Error 1" when the child
// was `go run`, which exits 1 after any interrupt.
func TestInterruptEndsWithStatusZero(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make not found; it runs the suite")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dingfluence")
	env := append(os.Environ(),
		"BIN="+bin,
		"DINGFLUENCE_ADDR=127.0.0.1:0",
		"DINGFLUENCE_DB=sqlite://"+filepath.Join(dir, "dingfluence.db"),
		"DINGFLUENCE_DATA_DIR="+dir,
		"DINGFLUENCE_ADMIN_PASSWORD="+testAdminPassword,
	)
	tests := []struct {
		name   string
		cmd    []string // make run builds bin; the later cases run it
		signal syscall.Signal
		group  bool // signal the process group, as a terminal's Ctrl-C does
	}{
		{"Ctrl-C on make run", []string{"make", "--no-print-directory", "-C", filepath.Join("..", ".."), "run"}, syscall.SIGINT, true},
		{"SIGTERM to the binary", []string{bin}, syscall.SIGTERM, false},
		{"SIGINT to the binary", []string{bin}, syscall.SIGINT, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(tt.cmd[0], tt.cmd[1:]...)
			cmd.Env = env
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			listening := make(chan struct{})
			logged := make(chan string, 1)
			go func() {
				var all strings.Builder
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					all.WriteString(sc.Text() + "\n")
					if strings.Contains(sc.Text(), "msg=listening") {
						close(listening)
						_, _ = io.Copy(&all, out)
						break
					}
				}
				logged <- all.String()
			}()
			exited := make(chan error, 1)
			go func() {
				<-logged // read everything before Wait closes the pipe
				exited <- cmd.Wait()
			}()
			select {
			case <-listening:
			case err := <-exited:
				t.Fatalf("exited before listening: %v\n%s", err, stderr.String())
			}
			pid := cmd.Process.Pid
			if tt.group {
				pid = -pid
			}
			if err := syscall.Kill(pid, tt.signal); err != nil {
				t.Fatal(err)
			}
			err = <-exited
			if tt.group {
				// make reports a child's failure on stderr ("*** [run] Error 1");
				// a child that exited 0 leaves it silent.
				if strings.Contains(stderr.String(), "***") {
					t.Fatalf("make reported an error after Ctrl-C:\n%s", stderr.String())
				}
				var exit *exec.ExitError
				if err == nil {
					return
				}
				if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
					t.Fatalf("make ended with %v, want 0 or its own SIGINT\nstderr:\n%s", err, stderr.String())
				}
				return
			}
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				t.Fatalf("exit status %d after %v, want 0\nstderr:\n%s", exit.ExitCode(), tt.signal, stderr.String())
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

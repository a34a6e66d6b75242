// pause holds a pod's namespaces open and does nothing else: the container every Kubernetes pod
// starts first. It exits on SIGINT or SIGTERM and, when it is the pod's PID 1 (a shared process
// namespace), reaps the orphans it inherits. Written for kplay; built static (CGO_ENABLED=0) with
// the Kubernetes binaries.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (kplay)")
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}

// crictl (kplay's subset): the CRI commands kubeadm runs, for distributions without cri-tools.
//
// Debian 12 has no crictl, and kubeadm 1.20 cannot do without one: `kubeadm init` and a control-plane
// `kubeadm join` look for images with `crictl inspecti` and pull them with `crictl pull`, `kubeadm
// reset` removes pods with `crictl pods`, `stopp` and `rmp`. This program speaks the CRI to the
// container runtime through kubelet's own client and implements those commands, plus `ps`,
// `images`, `info` and `version` for operators. Anything else is refused with a clear message.
// Written for kplay; built with the Kubernetes binaries from the same source tree.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1alpha2"
	"k8s.io/kubernetes/pkg/kubelet/cri/remote"
)

const defaultEndpoint = "unix:///run/containerd/containerd.sock"

func main() {
	fs := flag.NewFlagSet("crictl", flag.ContinueOnError)
	var runtimeEndpoint, imageEndpoint string
	var timeout time.Duration
	fs.StringVar(&runtimeEndpoint, "runtime-endpoint", "", "CRI runtime endpoint")
	fs.StringVar(&runtimeEndpoint, "r", "", "CRI runtime endpoint (short)")
	fs.StringVar(&imageEndpoint, "image-endpoint", "", "CRI image endpoint (default: the runtime endpoint)")
	fs.StringVar(&imageEndpoint, "i", "", "CRI image endpoint (short)")
	fs.DurationVar(&timeout, "timeout", 2*time.Minute, "timeout of each call")
	fs.DurationVar(&timeout, "t", 2*time.Minute, "timeout of each call (short)")
	fs.Usage = usage
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if runtimeEndpoint == "" {
		runtimeEndpoint = configured("CONTAINER_RUNTIME_ENDPOINT", "runtime-endpoint")
	}
	if imageEndpoint == "" {
		imageEndpoint = configured("IMAGE_SERVICE_ENDPOINT", "image-endpoint")
	}
	if imageEndpoint == "" {
		imageEndpoint = runtimeEndpoint
	}
	args := fs.Args()
	if len(args) == 0 {
		usage()
		os.Exit(2)
	}
	cmd, rest := args[0], args[1:]
	if cmd == "version" && len(rest) == 0 {
		// Answered below by the runtime too; the client part needs no connection.
		fmt.Println("Version:  0.1.0 (kplay crictl subset)")
	}
	if err := run(cmd, rest, runtimeEndpoint, imageEndpoint, timeout); err != nil {
		fmt.Fprintf(os.Stderr, "crictl %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: crictl [-r ENDPOINT] [-i ENDPOINT] [--timeout D] COMMAND [ARGS]

kplay's crictl subset (the CRI commands kubeadm needs, and a few for operators):
  version            runtime name and version
  info               runtime status (exit 1 when not ready)
  pods [-q]          pod sandboxes
  stopp ID...        stop pod sandboxes
  rmp ID...          remove pod sandboxes
  ps [-a] [-q]       containers (running ones unless -a)
  images [-q]        images
  inspecti IMAGE...  image status as JSON (exit 1 when an image is absent)
  pull IMAGE         pull an image through the runtime (its registry configuration applies)

The endpoint comes from -r, $CONTAINER_RUNTIME_ENDPOINT, runtime-endpoint in /etc/crictl.yaml,
or `+defaultEndpoint+`.
`)
}

// configured reads an endpoint from the environment or /etc/crictl.yaml (`key: value` lines).
func configured(env, key string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	f, err := os.Open("/etc/crictl.yaml")
	if err != nil {
		if key == "runtime-endpoint" {
			return defaultEndpoint
		}
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	if key == "runtime-endpoint" {
		return defaultEndpoint
	}
	return ""
}

func has(args []string, flags ...string) bool {
	for _, a := range args {
		for _, f := range flags {
			if a == f {
				return true
			}
		}
	}
	return false
}

func positional(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			out = append(out, a)
		}
	}
	return out
}

func runtimeService(endpoint string, timeout time.Duration) (internalapi.RuntimeService, error) {
	return remote.NewRemoteRuntimeService(endpoint, timeout)
}

func imageService(endpoint string, timeout time.Duration) (internalapi.ImageManagerService, error) {
	return remote.NewRemoteImageService(endpoint, timeout)
}

func run(cmd string, args []string, rEndpoint, iEndpoint string, timeout time.Duration) error {
	switch cmd {
	case "version", "info", "pods", "stopp", "rmp", "ps":
		rs, err := runtimeService(rEndpoint, timeout)
		if err != nil {
			return err
		}
		return runtimeCommand(rs, cmd, args)
	case "images", "inspecti", "pull":
		is, err := imageService(iEndpoint, timeout)
		if err != nil {
			return err
		}
		return imageCommand(is, cmd, args)
	default:
		return fmt.Errorf("not supported by kplay's crictl subset (see `crictl --help`)")
	}
}

func runtimeCommand(rs internalapi.RuntimeService, cmd string, args []string) error {
	switch cmd {
	case "version":
		v, err := rs.Version("v1alpha2")
		if err != nil {
			return err
		}
		fmt.Printf("RuntimeName:  %s\nRuntimeVersion:  %s\nRuntimeApiVersion:  %s\n", v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion)
	case "info":
		st, err := rs.Status()
		if err != nil {
			return err
		}
		out, _ := json.MarshalIndent(st, "", "  ")
		fmt.Println(string(out))
		for _, c := range st.GetConditions() {
			if c.Type == runtimeapi.RuntimeReady && !c.Status {
				return fmt.Errorf("runtime not ready: %s %s", c.Reason, c.Message)
			}
		}
	case "pods":
		pods, err := rs.ListPodSandbox(nil)
		if err != nil {
			return err
		}
		for _, p := range pods {
			if has(args, "-q", "--quiet") {
				fmt.Println(p.Id)
				continue
			}
			fmt.Printf("%-13.13s  %-8s  %s/%s\n", p.Id, p.State.String(), p.GetMetadata().GetNamespace(), p.GetMetadata().GetName())
		}
	case "stopp", "rmp":
		ids := positional(args)
		if len(ids) == 0 {
			return fmt.Errorf("no pod sandbox ID given")
		}
		for _, id := range ids {
			var err error
			if cmd == "stopp" {
				err = rs.StopPodSandbox(id)
			} else {
				err = rs.RemovePodSandbox(id)
			}
			if err != nil {
				return fmt.Errorf("%s: %v", id, err)
			}
			fmt.Println(id)
		}
	case "ps":
		var filter *runtimeapi.ContainerFilter
		if !has(args, "-a", "--all") {
			filter = &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}
		}
		cs, err := rs.ListContainers(filter)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if has(args, "-q", "--quiet") {
				fmt.Println(c.Id)
				continue
			}
			fmt.Printf("%-13.13s  %-20s  %-18s  %s\n", c.Id, c.GetMetadata().GetName(), c.State.String(), c.GetImage().GetImage())
		}
	}
	return nil
}

func imageCommand(is internalapi.ImageManagerService, cmd string, args []string) error {
	switch cmd {
	case "images":
		imgs, err := is.ListImages(nil)
		if err != nil {
			return err
		}
		for _, i := range imgs {
			if has(args, "-q", "--quiet") {
				fmt.Println(i.Id)
				continue
			}
			for _, t := range i.RepoTags {
				fmt.Printf("%-70s  %.19s  %d\n", t, i.Id, i.Size_)
			}
		}
	case "inspecti":
		refs := positional(args)
		if len(refs) == 0 {
			return fmt.Errorf("no image given")
		}
		for _, r := range refs {
			st, err := is.ImageStatus(&runtimeapi.ImageSpec{Image: r})
			if err != nil {
				return err
			}
			if st == nil {
				return fmt.Errorf("no such image %q present", r)
			}
			out, _ := json.MarshalIndent(map[string]interface{}{"status": st}, "", "  ")
			fmt.Println(string(out))
		}
	case "pull":
		refs := positional(args)
		if len(refs) != 1 {
			return fmt.Errorf("give exactly one image")
		}
		ref, err := is.PullImage(&runtimeapi.ImageSpec{Image: refs[0]}, nil, nil)
		if err != nil {
			return err
		}
		fmt.Printf("Image is up to date for %s\n", ref)
	}
	return nil
}

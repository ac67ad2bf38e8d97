// vcsim for the vSphere driver's tests: govmomi's simulator (Debian's 0.24.2 source) with a
// retry around a FindChild race (findchild.go) and two test add-ons that 0.24 lacks: ListFilesInGuest over the container directory that the docker
// shim keeps, and guest.toolsRunningStatus following the power state of a VM that has a
// guest container. Prints "URL <sdk url>" on stdout once listening; stops on SIGINT/SIGTERM.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	useTLS := flag.Bool("tls", false, "serve https with the test certificate")
	flag.Parse()

	model := simulator.VPX()
	model.Datacenter = 1
	model.Cluster = 1
	model.ClusterHost = 1
	model.Host = 0
	model.Machine = 0
	model.Pool = 0
	if err := model.Create(); err != nil {
		panic(err)
	}
	defer model.Remove()
	addListFiles()
	addFindChildRetry()

	model.Service.Listen = &url.URL{Host: *addr}
	if *useTLS {
		model.Service.TLS = new(tls.Config)
	}
	s := model.Service.NewServer()
	defer s.Close()
	fmt.Println("URL", s.URL.String())

	done := make(chan os.Signal, 1)
	signal.Notify(done, os.Interrupt, syscall.SIGTERM)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			syncToolsStatus()
		}
	}
}

// syncToolsStatus plays VMware Tools: running while a VM with a guest container is powered on.
func syncToolsStatus() {
	for _, obj := range simulator.Map.All("VirtualMachine") {
		vm, ok := obj.(*simulator.VirtualMachine)
		if !ok {
			continue
		}
		simulator.Map.WithLock(vm, func() {
			if vm.Guest == nil || vm.Config == nil {
				return // registered by CreateVM_Task, not filled in yet
			}
			want := string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)
			if vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn && containerID(vm) != "" {
				want = string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
			}
			if vm.Guest.ToolsRunningStatus != want {
				simulator.Map.Update(vm, []types.PropertyChange{
					{Name: "guest.toolsRunningStatus", Val: want},
					{Name: "summary.guest.toolsRunningStatus", Val: want},
				})
			}
		})
	}
}

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// containerID is the guest container of a powered-on VM: vcsim records "docker inspect <id>"
// in the VM's annotation when it starts one.
func containerID(vm *simulator.VirtualMachine) string {
	f := strings.Fields(vm.Config.Annotation)
	if len(f) == 3 && f[0] == "docker" && f[1] == "inspect" {
		return f[2]
	}
	return ""
}

type fileManager struct{ *simulator.GuestFileManager }

func (m *fileManager) ListFilesInGuest(ctx *simulator.Context, req *types.ListFilesInGuest) soap.HasFault {
	body := new(methods.ListFilesInGuestBody)
	vm := ctx.Map.Get(req.Vm).(*simulator.VirtualMachine)
	id := containerID(vm)
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn || id == "" {
		body.Fault_ = simulator.Fault("", new(types.GuestOperationsUnavailable))
		return body
	}
	if a, ok := req.Auth.(*types.NamePasswordAuthentication); !ok || a.Username == "" || a.Password == "" {
		body.Fault_ = simulator.Fault("", new(types.InvalidGuestLogin))
		return body
	}
	if strings.Contains(req.FilePath, "..") || !strings.HasPrefix(req.FilePath, "/") {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "filePath"})
		return body
	}
	dir := filepath.Join(os.Getenv("VCSIM_GUEST_ROOT"), id, req.FilePath)
	ents, err := os.ReadDir(dir)
	if err != nil {
		body.Fault_ = simulator.Fault("", &types.FileNotFound{FileFault: types.FileFault{File: req.FilePath}})
		return body
	}
	var re *regexp.Regexp
	if req.MatchPattern != "" {
		if re, err = regexp.Compile(req.MatchPattern); err != nil {
			body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "matchPattern"})
			return body
		}
	}
	var all []types.GuestFileInfo
	for _, e := range ents {
		if re != nil && !re.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		t := string(types.GuestFileTypeFile)
		if e.IsDir() {
			t = string(types.GuestFileTypeDirectory)
		} else if info.Mode()&os.ModeSymlink != 0 {
			t = string(types.GuestFileTypeSymlink)
		}
		all = append(all, types.GuestFileInfo{Path: e.Name(), Type: t, Size: info.Size()})
	}
	start := int(req.Index)
	if start > len(all) {
		start = len(all)
	}
	end := len(all)
	if req.MaxResults > 0 && start+int(req.MaxResults) < end {
		end = start + int(req.MaxResults)
	}
	res := &types.ListFilesInGuestResponse{}
	res.Returnval.Files = all[start:end]
	res.Returnval.Remaining = int32(len(all) - end)
	body.Res = res
	return body
}

func addListFiles() {
	ref := types.ManagedObjectReference{Type: "GuestFileManager", Value: "guestOperationsFileManager"}
	stock := simulator.Map.Get(ref).(*simulator.GuestFileManager)
	simulator.Map.Put(&fileManager{stock})
}

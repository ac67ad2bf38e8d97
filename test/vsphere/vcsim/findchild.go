package main

import (
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// searchIndex works around a race in govmomi 0.24's SearchIndex.FindChild: it reads a
// folder's children without the folder's lock, so under many concurrent CreateVM_Task calls
// (the wave tests run 60 at once) it can meet a VM not yet named and panic the whole
// simulator. The search is tried again a moment later instead.
type searchIndex struct {
	*simulator.SearchIndex
}

func (s *searchIndex) FindChild(req *types.FindChild) (res soap.HasFault) {
	for attempt := 0; ; attempt++ {
		done := func() (ok bool) {
			defer func() {
				if r := recover(); r != nil {
					if attempt >= 100 {
						panic(r)
					}
					ok = false
				}
			}()
			res = s.SearchIndex.FindChild(req)
			return true
		}()
		if done {
			return res
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func addFindChildRetry() {
	ref := types.ManagedObjectReference{Type: "SearchIndex", Value: "SearchIndex"}
	stock := simulator.Map.Get(ref).(*simulator.SearchIndex)
	simulator.Map.Put(&searchIndex{stock})
}

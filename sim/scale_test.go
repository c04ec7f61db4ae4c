package sim

import (
	"context"
	"strings"
	"testing"
)

// TestScaleSmall runs scale mode with 40 end UEs and 4 relays: every check
// must pass and the figures must add up.
func TestScaleSmall(t *testing.T) {
	p := new(ScaleProgress)
	var phases []string
	p.OnPhase = func(phase string, total int) {
		if phase == "" {
			phase = "end"
		}
		phases = append(phases, phase)
	}
	res, err := Scale(context.Background(), ScaleOptions{UEs: 40, Relays: 4, Seed: 3, Packets: 2, Workers: 8, Progress: p})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Checks {
		if !c.Pass {
			t.Errorf("check %q failed: expected %s, observed %s", c.Name, c.Expected, c.Observed)
		}
	}
	if len(res.Checks) < 9 {
		t.Errorf("%d checks", len(res.Checks))
	}
	if got := strings.Join(phases, ","); got != "register,end,provision,end,link,end" {
		t.Errorf("phases %s", got)
	}
	if ph, _, done, total := p.Snapshot(); ph != "link" || done != 20 || total != 20 {
		t.Errorf("progress at the end: %s %d/%d", ph, done, total)
	}
	switch {
	case res.Pairs != 20 || res.PairsLinked != 20 || res.Links != 40 || res.Tokens != 44:
		t.Errorf("pairs %d, linked %d, links %d, tokens %d", res.Pairs, res.PairsLinked, res.Links, res.Tokens)
	case res.PacketsSent != 40 || res.PacketsDelivered != 40 || res.PacketsEchoed != 40 || res.Forwarded != 80:
		t.Errorf("packets %d sent, %d delivered, %d echoed, %d forwarded", res.PacketsSent, res.PacketsDelivered, res.PacketsEchoed, res.Forwarded)
	case len(res.Phases) != 3 || res.Wall <= 0 || res.TokensPerSecond() <= 0 || res.LinksPerSecond() <= 0:
		t.Errorf("phases %+v, wall %v", res.Phases, res.Wall)
	case res.PeakHeap == 0 || res.FramesSent == 0 || res.FramesDelivered < res.FramesSent:
		t.Errorf("peak heap %d, frames %d sent, %d delivered", res.PeakHeap, res.FramesSent, res.FramesDelivered)
	}
	var sum int64
	for _, ph := range res.Phases {
		if ph.Wall <= 0 || ph.Wall > res.Wall {
			t.Errorf("phase %s: %v of %v", ph.Name, ph.Wall, res.Wall)
		}
		sum += int64(ph.Wall)
	}
	if sum > int64(res.Wall) {
		t.Errorf("phases take %d ns, the run %d", sum, res.Wall)
	}
}

// TestScaleLayout: every UE is within radio range of its relay and no
// node can hear a node of another cell.
func TestScaleLayout(t *testing.T) {
	s := &scaler{opt: ScaleOptions{UEs: 400, Relays: 7, Seed: 9}}
	cells := s.layout(s.newUEs())
	ids := map[uint32]bool{}
	total := 0
	for _, c := range cells {
		if len(c.pairs) < 28 || len(c.pairs) > 29 {
			t.Errorf("cell %d has %d pairs", c.index, len(c.pairs))
		}
		ids[uint32(c.rid)] = true
		for _, p := range c.pairs {
			total++
			for _, q := range []point{p.srcPos, p.tgtPos} {
				if d := dist(q, c.rpos); d > CellRadius {
					t.Errorf("UE %v m from its relay", d)
				}
				for _, o := range cells {
					if o != c && dist(q, o.rpos)-CellRadius <= RadioRange {
						t.Errorf("a UE of cell %d may hear cell %d", c.index, o.index)
					}
				}
			}
			ids[uint32(p.srcID)], ids[uint32(p.tgtID)] = true, true
			if !strings.HasPrefix(p.src.name, "ue-source-") || !strings.HasPrefix(p.tgt.name, "ue-target-") {
				t.Errorf("pair %s, %s", p.src.name, p.tgt.name)
			}
		}
	}
	if total != 200 || len(ids) != 407 {
		t.Errorf("%d pairs, %d distinct Layer-2 IDs", total, len(ids))
	}
}

func TestScaleOptions(t *testing.T) {
	for _, o := range []ScaleOptions{
		{UEs: 41, Relays: 4}, {UEs: 6, Relays: 4}, {UEs: 40, Relays: 0}, {UEs: 0, Relays: 1}, {UEs: 40, Relays: 4, Packets: -1},
	} {
		if _, err := Scale(context.Background(), o); err == nil || !strings.HasPrefix(err.Error(), "sim: ") {
			t.Errorf("%+v: error %v", o, err)
		}
	}
}

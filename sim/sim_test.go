package sim

import (
	"context"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/pc5/medium"
)

func TestAttackSelection(t *testing.T) {
	res, err := Run(context.Background(), Options{Seed: 2, Attacks: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() {
		t.Fatalf("checks failed: %+v", res.Checks)
	}
	for _, c := range res.Checks {
		if c.Phase == "attack" {
			t.Fatalf("attack %q ran", c.Name)
		}
	}
	res.Checks = append(res.Checks, Check{Name: "x"})
	if !res.Failed() {
		t.Fatal("Failed() false with a failed check")
	}
	if _, err := Run(context.Background(), Options{Attacks: []string{"nope"}}); err == nil || !strings.HasPrefix(err.Error(), "sim: ") {
		t.Fatalf("unknown attack: %v", err)
	}
}

// TestDescribe: frames are named by their LCID and, in the clear, type.
func TestDescribe(t *testing.T) {
	if got, _ := describe(frameOf(4, []byte{1, 2, 3})); got != "IP packet (PDCP)" {
		t.Fatalf("describe = %q", got)
	}
	if got, _ := describe(frameOf(0, []byte{0xff})); got != "undecodable PC5-S" {
		t.Fatalf("describe = %q", got)
	}
}

func frameOf(lcid uint8, p []byte) medium.Frame { return medium.Frame{LCID: lcid, Payload: p} }

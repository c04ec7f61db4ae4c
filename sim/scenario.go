package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	yaml "go.yaml.in/yaml/v3"
)

// Scenario is a YAML scenario file (see cmd/prose-sim/examples). Every
// field is optional.
type Scenario struct {
	// Description is printed before the run.
	Description string  `yaml:"description"`
	Seed        *uint64 `yaml:"seed"`
	Packets     int     `yaml:"packets"`
	Pairs       int     `yaml:"pairs"`
	// Attacks lists the attacks to run (AttackNames); absent: all,
	// empty list: none.
	Attacks *[]string `yaml:"attacks"`
}

// LoadScenario reads a scenario file; unknown fields are errors.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("sim: scenario %s: %w", path, err)
	}
	return &s, nil
}

// Apply sets on opt what the file gives, except the fields that keep
// names ("seed", "packets", "pairs": the flags given on a command line,
// which win over the file).
func (s *Scenario) Apply(opt *Options, keep map[string]bool) {
	if s.Seed != nil && !keep["seed"] {
		opt.Seed = *s.Seed
	}
	if s.Packets != 0 && !keep["packets"] {
		opt.Packets = s.Packets
	}
	if s.Pairs != 0 && !keep["pairs"] {
		opt.Pairs = s.Pairs
	}
	if s.Attacks != nil {
		opt.Attacks = append([]string{}, (*s.Attacks)...)
	}
}

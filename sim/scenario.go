package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Scenario is a YAML scenario file (docs/scenarios.md, examples in
// cmd/prose-sim/examples). Every field is optional. Without "ues" the file
// tunes the default scenario (seed, packets, pairs, attacks); with "ues" it
// describes a world of its own (the other fields), played by Run when
// Options.World is set (Apply sets it).
type Scenario struct {
	// Description is printed before the run.
	Description string  `yaml:"description"`
	Seed        *uint64 `yaml:"seed"`
	// Packets is the IP packets each way (at least 1; absent: the
	// default, 5). A world's session may give its own, 0 included.
	Packets *int `yaml:"packets"`
	Pairs   int  `yaml:"pairs"`
	// Attacks lists the attacks to run (AttackNames); absent: all,
	// empty list: none. Default scenario only.
	Attacks *[]string `yaml:"attacks"`

	// The world of a custom scenario (world.go of this file's types).
	RSC          string           `yaml:"rsc"`
	Leeway       string           `yaml:"leeway"`
	AS           *asSpec          `yaml:"as"`
	UEs          []ueSpec         `yaml:"ues"`
	Radio        *radioSpec       `yaml:"radio"`
	Revocations  []yaml.Node      `yaml:"revocations"`
	KeyRotations []rotationSpec   `yaml:"key_rotations"`
	OfflineAfter string           `yaml:"offline_after"`
	Sessions     []sessionSpec    `yaml:"sessions"`
	Attackers    []attackerSpec   `yaml:"attackers"`
	Expect       *globalExpectYML `yaml:"expect"`

	world *World
}

type asSpec struct {
	TokenLifetime string `yaml:"token_lifetime"`
	StatusListTTL string `yaml:"status_list_ttl"`
}

type ueSpec struct {
	Name          string    `yaml:"name"`
	Role          string    `yaml:"role"`
	Grants        *[]string `yaml:"grants"`
	TokenLifetime string    `yaml:"token_lifetime"`
	ClockSkew     string    `yaml:"clock_skew"`
	Position      []float64 `yaml:"position"`
}

type radioSpec struct {
	Range  float64    `yaml:"range"`
	Loss   float64    `yaml:"loss"`
	Delay  string     `yaml:"delay"`
	Jitter string     `yaml:"jitter"`
	Links  []linkSpec `yaml:"links"`
}

type linkSpec struct {
	Between []string `yaml:"between"`
	Loss    *float64 `yaml:"loss"`
	Delay   string   `yaml:"delay"`
	Jitter  string   `yaml:"jitter"`
	InRange *bool    `yaml:"in_range"`
}

type revocationSpec struct {
	UE   string `yaml:"ue"`
	When string `yaml:"when"`
}

type rotationSpec struct {
	After string `yaml:"after"`
}

type sessionSpec struct {
	Name    string    `yaml:"name"`
	From    string    `yaml:"from"`
	To      string    `yaml:"to"`
	Via     string    `yaml:"via"`
	RSC     string    `yaml:"rsc"`
	Packets *int      `yaml:"packets"`
	Expect  yaml.Node `yaml:"expect"`
}

type attackerSpec struct {
	Name     string    `yaml:"name"`
	Move     string    `yaml:"move"`
	From     string    `yaml:"from"`
	Via      string    `yaml:"via"`
	Target   string    `yaml:"target"`
	Position []float64 `yaml:"position"`
	Expect   yaml.Node `yaml:"expect"`
}

type expectSpec struct {
	Outcome   string    `yaml:"outcome"`
	Cause     yaml.Node `yaml:"cause"`
	By        string    `yaml:"by"`
	Delivered *int      `yaml:"delivered"`
}

type globalExpectYML struct {
	OfflineStart map[string]string `yaml:"offline_start"`
	Dropped      *rangeSpec        `yaml:"dropped_frames"`
}

type rangeSpec struct {
	Min *int `yaml:"min"`
	Max *int `yaml:"max"`
}

// yamlTypes names the schema's types as yaml.v3 reports them, with the
// name of the section a reader knows them by.
var yamlTypes = map[string]struct {
	section string
	t       reflect.Type
}{
	"Scenario":        {"the top level", reflect.TypeFor[Scenario]()},
	"asSpec":          {"as", reflect.TypeFor[asSpec]()},
	"ueSpec":          {"a ues entry", reflect.TypeFor[ueSpec]()},
	"radioSpec":       {"radio", reflect.TypeFor[radioSpec]()},
	"linkSpec":        {"a radio.links entry", reflect.TypeFor[linkSpec]()},
	"revocationSpec":  {"a revocations entry", reflect.TypeFor[revocationSpec]()},
	"rotationSpec":    {"a key_rotations entry", reflect.TypeFor[rotationSpec]()},
	"sessionSpec":     {"a sessions entry", reflect.TypeFor[sessionSpec]()},
	"attackerSpec":    {"an attackers entry", reflect.TypeFor[attackerSpec]()},
	"expectSpec":      {"an expect mapping", reflect.TypeFor[expectSpec]()},
	"globalExpectYML": {"expect", reflect.TypeFor[globalExpectYML]()},
	"rangeSpec":       {"expect.dropped_frames", reflect.TypeFor[rangeSpec]()},
}

// knownFields lists the YAML keys of t.
func knownFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

var unknownFieldRE = regexp.MustCompile(`line (\d+): field (\S+) not found in type sim\.(\w+)`)

// explainYAML rewrites yaml.v3's unknown-field errors to name the section
// and the fields it knows.
func explainYAML(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		if m := unknownFieldRE.FindStringSubmatch(e); m != nil {
			if yt, ok := yamlTypes[m[3]]; ok {
				e = fmt.Sprintf("line %s: unknown field %q in %s (known: %s)", m[1], m[2], yt.section, strings.Join(knownFields(yt.t), ", "))
			}
		}
		msgs = append(msgs, e)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// LoadScenario reads and checks a scenario file; unknown fields are
// errors, and every error names the field and what was expected.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ParseScenario(b)
	if err != nil {
		return nil, fmt.Errorf("sim: scenario %s: %w", path, err)
	}
	return s, nil
}

// ParseScenario parses and checks a scenario (see LoadScenario). The file
// is one YAML document holding a mapping; every value must have the type
// of its field (yaml.v3 alone would truncate 1.5 into an integer field).
func ParseScenario(b []byte) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, errors.New("empty scenario: give at least one field (docs/scenarios.md)")
	} else if err != nil {
		return nil, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("line %d: a second YAML document: a scenario is one document", more.Line)
	}
	if err := checkTypes(doc.Content[0], reflect.TypeFor[Scenario](), ""); err != nil {
		return nil, err
	}
	dec = yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, explainYAML(err)
	}
	if err := s.compile(); err != nil {
		return nil, err
	}
	return &s, nil
}

// checkTypes walks a YAML node along the Go type it decodes into and
// refuses, naming the field, a value of another kind: a non-integer for an
// integer, a scalar for a list or a mapping, and so on. Fields held as
// yaml.Node are checked where they are decoded (strictDecode).
func checkTypes(n *yaml.Node, t reflect.Type, path string) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	name := path
	if name == "" {
		name = "the top level"
	}
	want := func(what string) error {
		found := n.Tag
		if n.Kind == yaml.ScalarNode {
			found = fmt.Sprintf("%s %q", n.Tag, n.Value)
		}
		return fmt.Errorf("line %d: %s: want %s, found %s", n.Line, name, what, found)
	}
	if t == reflect.TypeFor[yaml.Node]() || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return want("a mapping")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			for j := range t.NumField() {
				if tag, _, _ := strings.Cut(t.Field(j).Tag.Get("yaml"), ","); tag == key {
					if err := checkTypes(n.Content[i+1], t.Field(j).Type, join(path, key)); err != nil {
						return err
					}
				}
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return want("a mapping")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkTypes(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return want("a list")
		}
		for i, c := range n.Content {
			if err := checkTypes(c, t.Elem(), fmt.Sprintf("%s[%d]", name, i)); err != nil {
				return err
			}
		}
	case reflect.Int, reflect.Int64, reflect.Uint64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return want("an integer")
		}
	case reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
			return want("a number")
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return want("true or false")
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return want("a single value")
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// World returns the custom world of the file (nil for a file that tunes
// the default scenario).
func (s *Scenario) World() *World { return s.world }

// Apply sets on opt what the file gives, except the fields that keep
// names ("seed", "packets", "pairs": the flags given on a command line,
// which win over the file). A file with a world sets Options.World.
func (s *Scenario) Apply(opt *Options, keep map[string]bool) {
	if s.Seed != nil && !keep["seed"] {
		opt.Seed = *s.Seed
	}
	if s.Packets != nil && !keep["packets"] {
		opt.Packets = *s.Packets
	}
	if s.Pairs != 0 && !keep["pairs"] {
		opt.Pairs = s.Pairs
	}
	if s.Attacks != nil {
		opt.Attacks = append([]string{}, (*s.Attacks)...)
	}
	if s.world != nil {
		opt.World = s.world
	}
}

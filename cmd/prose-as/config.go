package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// source says where a setting's value came from.
type source int

const (
	fromDefault source = iota
	fromConfig
	fromEnv
	fromFlag
)

func (s source) String() string {
	switch s {
	case fromConfig:
		return "config"
	case fromEnv:
		return "env"
	case fromFlag:
		return "flag"
	}
	return "default"
}

// envPrefix starts every environment variable of prose-as.
const envPrefix = "PROSE_AS_"

// envName is the environment variable of a flag: PROSE_AS_ + the flag name
// in upper snake case (--data-dir: PROSE_AS_DATA_DIR).
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// allEnvNames maps every flag of fs except those in skip to envName.
func allEnvNames(fs *flag.FlagSet, skip ...string) map[string]string {
	m := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		for _, s := range skip {
			if s == f.Name {
				return
			}
		}
		m[f.Name] = envName(f.Name)
	})
	return m
}

// resolveSettings completes a parsed flag set with the lower-precedence
// sources, so that the effective value of every setting is, in order:
// the command-line flag, the environment variable, the config file key of
// the same name as the flag, the flag's default.
//
// envNames lists the flags that take part (flag name → environment
// variable); the others keep their command-line or default value. config is
// a YAML mapping (nil or empty for none) named configName in errors; a key
// that is not in envNames is an error. It is a pure function of its
// arguments: lookupEnv stands for os.LookupEnv.
func resolveSettings(fs *flag.FlagSet, envNames map[string]string, lookupEnv func(string) (string, bool), config []byte, configName string) (map[string]source, error) {
	yamlValues, err := parseConfig(config, configName, envNames)
	if err != nil {
		return nil, err
	}
	src := map[string]source{}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	var firstErr error
	fs.VisitAll(func(f *flag.Flag) {
		if firstErr != nil {
			return
		}
		name := f.Name
		ev, takesPart := envNames[name]
		switch {
		case explicit[name]:
			src[name] = fromFlag
		case !takesPart:
			src[name] = fromDefault
		default:
			if v, ok := lookupEnv(ev); ok {
				if err := fs.Set(name, v); err != nil {
					firstErr = fmt.Errorf("prose-as: environment variable %s: invalid value %q: %v; fix or unset it", ev, v, err)
					return
				}
				src[name] = fromEnv
				return
			}
			if v, ok := yamlValues[name]; ok {
				if err := fs.Set(name, v); err != nil {
					firstErr = fmt.Errorf("prose-as: config file %s: key %q: invalid value %q: %v", configName, name, v, err)
					return
				}
				src[name] = fromConfig
				return
			}
			src[name] = fromDefault
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return src, nil
}

// parseConfig reads a YAML mapping of flag names to scalar values.
func parseConfig(doc []byte, name string, known map[string]string) (map[string]string, error) {
	out := map[string]string{}
	if len(bytes.TrimSpace(doc)) == 0 {
		return out, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		return nil, fmt.Errorf("prose-as: config file %s is not valid YAML: %v", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("prose-as: config file %s holds more than one YAML document; keep one", name)
	}
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return out, nil
		}
		root = *root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return out, nil // an empty document ("---")
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("prose-as: config file %s: line %d: want a mapping of setting names to values (e.g. listen: 127.0.0.1:8443)", name, root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("prose-as: config file %s: line %d: keys must be setting names", name, k.Line)
		}
		if _, ok := known[k.Value]; !ok {
			return nil, fmt.Errorf("prose-as: config file %s: line %d: unknown key %q; valid keys are: %s", name, k.Line, k.Value, strings.Join(sortedKeys(known), ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("prose-as: config file %s: line %d: key %q is given twice", name, k.Line, k.Value)
		}
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		switch {
		case v.Kind != yaml.ScalarNode:
			return nil, fmt.Errorf("prose-as: config file %s: line %d: key %q needs a single value, not a list or mapping", name, v.Line, k.Value)
		case v.Tag == "!!null":
			return nil, fmt.Errorf("prose-as: config file %s: line %d: key %q has no value; write %s: \"\" for an empty value or remove the line", name, v.Line, k.Value, k.Value)
		}
		out[k.Value] = v.Value
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

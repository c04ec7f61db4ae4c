package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// TestTokenRetentionSetting: --token-retention comes from the flag, else
// PROSE_AS_TOKEN_RETENTION, else the config file's token-retention, else
// 720h; 0 keeps records forever (a negative as.Config.TokenRetention);
// negative values and values under an hour are usage errors.
func TestTokenRetentionSetting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		doc  string
		want time.Duration // in as.Config
		err  string
	}{
		{want: 720 * time.Hour},
		{doc: "token-retention: 48h\n", want: 48 * time.Hour},
		{env: map[string]string{"PROSE_AS_TOKEN_RETENTION": "36h"}, doc: "token-retention: 48h\n", want: 36 * time.Hour},
		{args: []string{"--token-retention", "24h"}, env: map[string]string{"PROSE_AS_TOKEN_RETENTION": "36h"}, want: 24 * time.Hour},
		{args: []string{"--token-retention", "0"}, want: -1},
		{doc: "token-retention: 0s\n", want: -1},
		{args: []string{"--token-retention", "1h"}, want: time.Hour},
		{args: []string{"--token-retention", "59m59s"}, err: "--token-retention 59m59s: want 0 (keep records forever) or at least 1h0m0s"},
		{args: []string{"--token-retention", "30s"}, err: "at least 1h0m0s"},
		{env: map[string]string{"PROSE_AS_TOKEN_RETENTION": "-1h"}, err: "--token-retention -1h0m0s"},
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		s := serveFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
		_, err := resolveSettings(fs, serveEnvNames(fs), lookup, []byte(tc.doc), "c.yaml")
		if err == nil {
			err = s.check()
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v %v %q: err = %v, want %q", tc.args, tc.env, tc.doc, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v %v %q: %v", tc.args, tc.env, tc.doc, err)
			continue
		}
		if got := tokenRetention(s.TokenRetention); got != tc.want {
			t.Errorf("%v %v %q: TokenRetention = %v, want %v", tc.args, tc.env, tc.doc, got, tc.want)
		}
	}
}

func TestServeHelpShowsTokenRetention(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve", "-h"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{"--token-retention DURATION", "default 720h0m0s", "env PROSE_AS_TOKEN_RETENTION", "0: keep records forever"} {
		if !strings.Contains(got, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
}

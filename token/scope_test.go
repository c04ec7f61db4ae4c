package token

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseRSC(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want RSC
		ok   bool
	}{
		{"00002a", 0x2a, true},
		{"00002A", 0x2a, true},
		{"ffffff", 0xffffff, true},
		{"000000", 0, true},
		{"AbCdEf", 0xabcdef, true},
		{"2a", 0, false},
		{"0000002a", 0, false},
		{"00002g", 0, false},
		{"", 0, false},
		{"+0002a", 0, false},
		{" 00002a", 0, false},
	} {
		got, err := ParseRSC(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseRSC(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "token: ") {
			t.Errorf("error %q lacks prefix", err)
		}
	}
	if s := RSC(0x2a).String(); s != "00002a" {
		t.Errorf("RSC(0x2a).String() = %q", s)
	}
}

func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Scope
		ok   bool
	}{
		{"", nil, true},
		{"u2u:use:00002a", []Scope{{RoleUse, 0x2a}}, true},
		{"u2u:serve:ffffff u2u:use:000001", []Scope{{RoleServe, 0xffffff}, {RoleUse, 1}}, true},
		{"u2u:use:00002a u2u:use:00002a", []Scope{{RoleUse, 0x2a}}, true}, // deduplicated
		{"u2u:use:00002A", nil, false},                                    // scope RSC is lower case
		{"u2u:use:00002a  u2u:use:000001", nil, false},                    // empty element
		{" u2u:use:00002a", nil, false},
		{"u2u:use:00002a ", nil, false},
		{"u2u:relay:00002a", nil, false},
		{"u2u:use:2a", nil, false},
		{"u2u:use", nil, false},
		{"openid", nil, false},
		{"U2U:use:00002a", nil, false},
		{"u2u:use:00002a\tu2u:use:000001", nil, false},
	} {
		got, err := ParseScopes(tc.in)
		if (err == nil) != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseScopes(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && len(tc.want) > 0 {
			back, err := ParseScopes(FormatScopes(got))
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Errorf("round trip of %q: %v, %v", tc.in, back, err)
			}
		}
	}
	if s := (Scope{RoleServe, 0xabcdef}).String(); s != "u2u:serve:abcdef" {
		t.Errorf("Scope.String() = %q", s)
	}
	if s := FormatScopes([]Scope{{RoleUse, 1}, {RoleServe, 2}}); s != "u2u:use:000001 u2u:serve:000002" {
		t.Errorf("FormatScopes = %q", s)
	}
}

func TestRequire(t *testing.T) {
	c := &Claims{Subject: "ue-relay-1", Scopes: []Scope{{RoleServe, 0x2a}, {RoleUse, 0x2b}}}
	if !c.HasScope(RoleServe, 0x2a) || c.HasScope(RoleUse, 0x2a) {
		t.Error("HasScope wrong")
	}
	if err := c.Require(RoleServe, 0x2a); err != nil {
		t.Error(err)
	}
	err := c.Require(RoleUse, 0x2a)
	checkErr(t, err, ErrScopeNotGranted)
	if !strings.Contains(err.Error(), `"u2u:use:00002a"`) {
		t.Errorf("error %q does not name the missing scope", err)
	}
	if err := c.RequireSubject("ue-relay-1"); err != nil {
		t.Error(err)
	}
	err = c.RequireSubject("ue-relay-2")
	checkErr(t, err, ErrWrongSubject)
	if !strings.Contains(err.Error(), "ue-relay-2") || !strings.Contains(err.Error(), "ue-relay-1") {
		t.Errorf("error %q does not say what was expected and found", err)
	}
}

func TestFormat(t *testing.T) {
	for _, f := range []Format{JWT, CWT} {
		g, err := ParseFormat(f.String())
		if err != nil || g != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), g, err)
		}
	}
	if f, err := ParseFormat("CWT"); err != nil || f != CWT {
		t.Errorf("ParseFormat(CWT) = %v, %v", f, err)
	}
	if _, err := ParseFormat("jws"); err == nil {
		t.Error("ParseFormat(jws) succeeded")
	}
	if s := Format(9).String(); s != "Format(9)" {
		t.Errorf("Format(9).String() = %q", s)
	}
	if errors.Is(nil, ErrMalformed) {
		t.Fatal("unreachable")
	}
}

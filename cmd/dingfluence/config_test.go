package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestTrustedProxiesConfig(t *testing.T) {
	tests := []struct {
		value   string
		want    string // the parsed ranges
		wantErr string
	}{
		{"", "[]", ""},
		{"10.0.0.0/8", "[10.0.0.0/8]", ""},
		{" 10.0.0.0/8 , 192.168.1.5,::1 ", "[10.0.0.0/8 192.168.1.5/32 ::1/128]", ""},
		{"10.0.0.0/33", "", `"10.0.0.0/33" is neither an IP address nor a CIDR range`},
		{"proxy.internal", "", `"proxy.internal" is neither an IP address nor a CIDR range`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Setenv("DINGFLUENCE_TRUSTED_PROXIES", tt.value)
			cfg, err := loadConfig(nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "DINGFLUENCE_TRUSTED_PROXIES") {
					t.Fatalf("err = %v, want one naming DINGFLUENCE_TRUSTED_PROXIES and %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			nets, err := cfg.trustedProxies()
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(nets); got != tt.want {
				t.Fatalf("ranges = %s, want %s", got, tt.want)
			}
		})
	}
}

// An app configured with an unusable proxy list refuses to start rather than
// trust nobody (or everybody) silently.
func TestAppRefusesAnInvalidTrustedProxy(t *testing.T) {
	_, err := newApp(t.Context(), Config{TrustedProxies: "10.0.0.0/99", DataDir: t.TempDir(), DB: "sqlite://" + t.TempDir() + "/x.db"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "DINGFLUENCE_TRUSTED_PROXIES") {
		t.Fatalf("newApp = %v, want a DINGFLUENCE_TRUSTED_PROXIES error", err)
	}
}

package main

import (
	"flag"
	"fmt"
	"github.com/jonboulle/clockwork"
	"net"
	"path/filepath"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Config is everything configured outside the browser. Each field is read
// from its environment variable, then from a flag of the same name
// (-DINGFLUENCE_ADDR=…), the flag winning.
type Config struct {
	Addr          string `env:"DINGFLUENCE_ADDR" envDefault:":8080"`
	DB            string `env:"DINGFLUENCE_DB" envDefault:"sqlite://data/dingfluence.db"`
	DataDir       string `env:"DINGFLUENCE_DATA_DIR"`
	SecretKey     string `env:"DINGFLUENCE_SECRET_KEY"`
	AdminPassword string `env:"DINGFLUENCE_ADMIN_PASSWORD"`
	BaseURL       string `env:"DINGFLUENCE_BASE_URL" envDefault:"http://localhost:8080"`
	LogFormat     string `env:"DINGFLUENCE_LOG_FORMAT" envDefault:"text"`
	// TrustedProxies lists the reverse proxies (comma-separated IPs or CIDRs)
	// whose X-Forwarded-For is believed; empty means none.
	TrustedProxies string `env:"DINGFLUENCE_TRUSTED_PROXIES"`
	MetricsToken   string `env:"DINGFLUENCE_METRICS_TOKEN"`
	// passwordCost, when set, is the bcrypt cost of new password hashes; only tests set
	// it, since the default cost under the race detector makes every app start slow.
	passwordCost int
	// throttleClock, when set, drives the sign-in throttle; tests set a fake clock so a
	// slow machine cannot refill a bucket between two attempts.
	throttleClock clockwork.Clock
}

// loadConfig reads the environment and then args.
func loadConfig(args []string) (Config, error) {
	var cfg Config
	if err := env.Parse(&cfg); err != nil {
		return cfg, fmt.Errorf("read environment: %w", err)
	}
	fs := flag.NewFlagSet("dingfluence", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "DINGFLUENCE_ADDR", cfg.Addr, "address to listen on")
	fs.StringVar(&cfg.DB, "DINGFLUENCE_DB", cfg.DB, "database: sqlite://path or mysql://user:pass@tcp(host:3306)/db")
	fs.StringVar(&cfg.DataDir, "DINGFLUENCE_DATA_DIR", cfg.DataDir, "directory for the generated secret key (default: beside the SQLite file, else ./data)")
	fs.StringVar(&cfg.SecretKey, "DINGFLUENCE_SECRET_KEY", cfg.SecretKey, "key that encrypts secrets at rest (generated into the data dir when empty)")
	fs.StringVar(&cfg.AdminPassword, "DINGFLUENCE_ADMIN_PASSWORD", cfg.AdminPassword, "password of the local admin account (generated and printed once when empty)")
	fs.StringVar(&cfg.BaseURL, "DINGFLUENCE_BASE_URL", cfg.BaseURL, "public URL of this app")
	fs.StringVar(&cfg.LogFormat, "DINGFLUENCE_LOG_FORMAT", cfg.LogFormat, "text or json")
	fs.StringVar(&cfg.TrustedProxies, "DINGFLUENCE_TRUSTED_PROXIES", cfg.TrustedProxies, "reverse proxies whose X-Forwarded-For is believed: comma-separated IPs or CIDRs (default none)")
	fs.StringVar(&cfg.MetricsToken, "DINGFLUENCE_METRICS_TOKEN", cfg.MetricsToken, "bearer token /metrics requires (open when empty)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if _, err := cfg.trustedProxies(); err != nil {
		return cfg, err
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
		if path, ok := strings.CutPrefix(cfg.DB, "sqlite://"); ok {
			cfg.DataDir = filepath.Dir(path)
		}
	}
	return cfg, nil
}

// secureCookies reports whether the app is reached over https, so cookies
// must never travel over plain http.
func (c Config) secureCookies() bool {
	return strings.HasPrefix(strings.ToLower(c.BaseURL), "https://")
}

// trustedProxies parses TrustedProxies into networks; a bare IP is a network
// of one address.
func (c Config) trustedProxies() ([]*net.IPNet, error) {
	var nets []*net.IPNet
	for _, item := range strings.Split(c.TrustedProxies, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			ip := net.ParseIP(item)
			if ip == nil {
				return nil, fmt.Errorf("DINGFLUENCE_TRUSTED_PROXIES: %q is neither an IP address nor a CIDR range (such as 10.0.0.0/8)", item)
			}
			bits := 8 * net.IPv6len
			if v4 := ip.To4(); v4 != nil {
				ip, bits = v4, 8*net.IPv4len
			}
			nets = append(nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(item)
		if err != nil {
			return nil, fmt.Errorf("DINGFLUENCE_TRUSTED_PROXIES: %q is neither an IP address nor a CIDR range (such as 10.0.0.0/8)", item)
		}
		nets = append(nets, n)
	}
	return nets, nil
}

// sessionCookieName is the session cookie's name. Over https it carries the
// __Host- prefix, which browsers only accept from this exact host, Secure,
// with Path=/ and no Domain: a sibling subdomain cannot plant or overwrite it.
func (c Config) sessionCookieName() string {
	if c.secureCookies() {
		return "__Host-df_session"
	}
	return "df_session"
}

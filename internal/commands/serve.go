package commands

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-export/internal/exitcode"
	"github.com/stella-ops/stella-export/internal/safefile"
	"github.com/stella-ops/stella-export/internal/serve"
)

type serveOptions struct {
	listen      string
	allowRemote bool
	tokenFile   string
}

func (o *serveOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to listen on, HOST:PORT; a loopback address unless --allow-remote (port 0 picks a free port)")
	f.BoolVar(&o.allowRemote, "allow-remote", false, "allow --listen to name an address other than loopback (0.0.0.0:8080, a LAN address); pair it with --token-file")
	f.StringVar(&o.tokenFile, "token-file", "", "require Authorization: Bearer TOKEN on every request, TOKEN being this file's content (at least 16 characters)")
}

// checkListen refuses an address that would listen beyond the machine
// unless allowRemote: the host must be named (no ":8080", which means
// every interface), and be localhost or a loopback IP.
func checkListen(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return exitcode.Usagef("--listen %q: not HOST:PORT, such as 127.0.0.1:8080", addr)
	}
	if host == "" {
		return exitcode.Usagef("--listen %q listens on every interface: name the address, 127.0.0.1:8080 for this machine only, or 0.0.0.0:8080 with --allow-remote", addr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if !allowRemote {
		return withHint(exitcode.Usagef("--listen %s: not a loopback address; serve listens beyond this machine only with --allow-remote", addr),
			"add --allow-remote (and --token-file FILE), or listen on 127.0.0.1")
	}
	return nil
}

func newServeCmd(e *env) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve DIR [--listen 127.0.0.1:8080] [--allow-remote] [--token-file FILE]",
		Short: "Serve the bundles under a directory over read-only HTTP, with range downloads",
		Long: `serve verifies every .tgz under DIR once (symbolic links are not followed;
a bundle that does not verify is skipped with a warning) and serves them
read-only (docs/distribution.md#serve):

  GET /exports                    the exports, as canonical JSON
  GET /exports/{exportId}/download  the bundle: Range requests, ETag (its
                                  SHA-256), Last-Modified (createdAtUtc),
                                  X-Export-Digest, X-Export-Length
  GET /exports/{exportId}/manifest    export.json
  GET /exports/{exportId}/provenance  provenance.json
  GET /exports/{exportId}/signature   BUNDLE.tgz.sig beside the bundle, else
                                  the in-bundle export.json.sig

URLs name export ids, never files: nothing outside DIR, and nothing that
was not verified, can be reached. It listens on loopback unless
--allow-remote; the URL it serves is printed on stdout. SIGINT or SIGTERM
stops it gracefully (requests in flight get 4 s) with exit 0.`,
		Example: `  stella-export serve out/ --listen 127.0.0.1:8080
  curl -r 0-99 http://127.0.0.1:8080/exports/exp-42/download | xxd | head
  stella-export serve /srv/exports --listen 0.0.0.0:8443 --allow-remote --token-file /etc/stella/serve.token`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitcode.Usagef("want one directory to serve, got %d arguments", len(args))
			}
			return checkListen(o.listen, o.allowRemote)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			markRan(cmd)
			return runServe(cmd.Context(), e, cmd, o, args[0])
		},
	}
	o.addFlags(cmd)
	return cmd
}

// tokenRe is RFC 6750's b64token.
var tokenRe = regexp.MustCompile(`^[A-Za-z0-9._~+/-]+=*$`)

func readToken(e *env, file string) (string, error) {
	f, err := safefile.Open(file)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	if w := safefile.PrivateWarning(f, file); w != "" {
		warner(e)(w)
	}
	b, err := safefile.ReadFrom(f, file, safefile.MaxSecret)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := string(bytes.TrimRight(b, "\r\n"))
	switch {
	case len(tok) < safefile.MinSecret:
		return "", withHint(exitcode.Invalidf("token file %s: the token is %d bytes; at least %d are required", file, len(tok), safefile.MinSecret),
			"openssl rand -hex 32 > %s", file)
	case !tokenRe.MatchString(tok):
		return "", exitcode.Invalidf("token file %s: the token may hold only letters, digits and - . _ ~ + / (then =)", file)
	}
	return tok, nil
}

type serveResult struct {
	URL     string `json:"url"`
	Exports int    `json:"exports"`
}

func runServe(ctx context.Context, e *env, cmd *cobra.Command, o *serveOptions, dir string) error {
	var token string
	if o.tokenFile != "" {
		var err error
		if token, err = readToken(e, o.tokenFile); err != nil {
			return err
		}
	}
	warn := warner(e)
	ix, err := serve.NewIndex(ctx, dir, serve.Options{Warn: warn})
	if err != nil {
		return interrupted(ctx, err, "nothing")
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	if token == "" && o.allowRemote {
		warn("warning: serving without --token-file: anyone who can reach " + ln.Addr().String() + " can download every export")
	}
	out := serveResult{URL: "http://" + ln.Addr().String() + "/exports", Exports: ix.Len()}
	if err := printResult(e, cmd, out, func(w io.Writer) {
		fmt.Fprintf(w, "%s (%d exports from %s)\n", out.URL, out.Exports, dir)
	}); err != nil {
		ln.Close()
		return err
	}
	return serve.Serve(ctx, ln, serve.Handler(ix, token, e.stderr), e.stderr)
}

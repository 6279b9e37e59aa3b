package jsonrpc

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"
)

// post sends a raw body and decodes the JSON answer.
func (e *env) post(t *testing.T, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, e.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

type jsonError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type jsonResponse struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *jsonError      `json:"error"`
}

func TestProtocolErrors(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BatchItemLimit = 3; c.MaxBodyBytes = 4096 })

	_, data := e.post(t, `{"jsonrpc":"2.0","id":1,"method":`, nil)
	var resp jsonResponse
	if err := json.Unmarshal(data, &resp); err != nil || resp.Error == nil || resp.Error.Code != -32700 {
		t.Errorf("malformed JSON: %s", data)
	}

	err := e.call(new(hexutil.Big), "eth_getBalance", "not-an-address", "latest")
	if code, _, _ := rpcErr(t, err); code != -32602 {
		t.Errorf("bad address: code %d; want -32602", code)
	}
	err = e.call(new(map[string]any), "eth_getBlockByNumber", "0x1")
	if code, _, _ := rpcErr(t, err); code != -32602 {
		t.Errorf("missing argument: code %d; want -32602", code)
	}

	err = e.call(new(any), "eth_bogus")
	if code, msg, _ := rpcErr(t, err); code != -32601 || msg != "the method eth_bogus does not exist/is not available" {
		t.Errorf("unknown method: %d %q", code, msg)
	}
	// Without dev keys, the signing methods do not exist.
	for _, m := range []string{"eth_accounts", "eth_sendTransaction", "eth_sign", "eth_signTypedData_v4", "personal_sign"} {
		err = e.call(new(any), m)
		if code, msg, _ := rpcErr(t, err); code != -32601 || msg != "the method "+m+" does not exist/is not available" {
			t.Errorf("%s without dev keys: %d %q", m, code, msg)
		}
	}

	body := `{"jsonrpc":"2.0","id":1,"method":"web3_sha3","params":["0x` + strings.Repeat("00", 4096) + `"]}`
	httpResp, data := e.post(t, body, nil)
	if httpResp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(data), "content length too large") {
		t.Errorf("oversized body: %d %s", httpResp.StatusCode, data)
	}

	batch := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"eth_chainId"}`, i+1)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	_, data = e.post(t, batch(3), nil)
	var answers []jsonResponse
	if err := json.Unmarshal(data, &answers); err != nil || len(answers) != 3 || answers[2].Error != nil {
		t.Errorf("batch of 3: %s", data)
	}
	_, data = e.post(t, batch(4), nil)
	if err := json.Unmarshal(data, &answers); err != nil || len(answers) != 1 || answers[0].Error == nil ||
		answers[0].Error.Code != -32600 || answers[0].Error.Message != "batch too large" {
		t.Errorf("batch of 4 over a limit of 3: %s", data)
	}
}

func TestCORSAndTransports(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodOptions, e.url, nil)
	req.Header.Set("Origin", "https://dapp.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		resp.Header.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Errorf("preflight headers %v", resp.Header)
	}
	httpResp, data := e.post(t, `{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}`, map[string]string{"Origin": "https://dapp.example"})
	if httpResp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(string(data), `"result"`) {
		t.Errorf("CORS POST: %v %s", httpResp.Header, data)
	}
	// The same port speaks WebSocket.
	var id hexutil.Big
	if err := e.ws().CallContext(ctx(t), &id, "eth_chainId"); err != nil || id.ToInt().Cmp(e.chain.ChainConfig().ChainID) != 0 {
		t.Errorf("chain id over WebSocket: %v, %v", id.ToInt(), err)
	}

	restricted := newEnv(t, func(c *Config) { c.CORSOrigins = []string{"https://good.example"} })
	httpResp, _ = restricted.post(t, `{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}`, map[string]string{"Origin": "https://evil.example"})
	if got := httpResp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("disallowed origin got %q", got)
	}
	httpResp, _ = restricted.post(t, `{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}`, map[string]string{"Origin": "https://good.example"})
	if got := httpResp.Header.Get("Access-Control-Allow-Origin"); got != "https://good.example" {
		t.Errorf("allowed origin got %q", got)
	}
}

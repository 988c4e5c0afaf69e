package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
)

// The production signing server's replies (public pipeline fixtures):
//
//	{"i": 1, "msg": {...}, "msg_id": "2017-<uuid>", "timestamp": 1503288846.0,
//	 "topic": "/topic/VirtualTopic.eng.robosignatory.<env>.sign.<task_id>", "username": "fedmsg"}
//
// with the keys of the wrapper and of msg in sorted order. A single
// request's msg echoes the request (not its data, not "created") and adds
// errors, request_received_time, sig_keyname, signature_type, the
// signature (signed_claim, signed_data or signed_payload),
// signing_server_requested/responded and signing_status. A batch
// request's msg carries "claims", one entry per claim in request order,
// each with "signed_claims": {<key name>: <signature>} for every key name
// the claim asked for.

// DefaultUsername is the wrapper's "username" when Options.Username is
// empty: what the production server sends.
const DefaultUsername = "fedmsg"

// Signing statuses of a reply's msg.
const (
	statusSuccess = "success"
	statusFailure = "failure"
)

// signedAttributes maps a single request's data attribute to the reply's
// signature field.
var signedAttributes = map[string]string{"claim_file": "signed_claim", "data": "signed_data", "artifact": "signed_payload"}

// signatureTypes maps a request's mtype to the reply's signature_type.
var signatureTypes = map[string]string{"container_signature": "container_signature", "clearsign_signature": "clearsign_signature", "gpg_signature": "gpg_signature"}

// reply builds the replies to one request.
type reply struct {
	s        *Server
	req      map[string]json.RawMessage
	order    []string
	id       string
	topic    string
	mtype    string
	received time.Time
}

func (s *Server) newReply(req map[string]json.RawMessage, order []string, id, address, mtype string, received time.Time) *reply {
	return &reply{s: s, req: req, order: order, id: id, topic: wrapperTopic(address), mtype: mtype, received: received}
}

// wrapperTopic is the wrapper's "topic": the reply address in the
// server's /topic/<name> notation, whatever the broker calls it.
func wrapperTopic(address string) string {
	name := address
	for _, p := range []string{"/topic/", "topic://", "/queue/", "queue://"} {
		if rest, ok := strings.CutPrefix(address, p); ok {
			name = rest
			break
		}
	}
	return "/topic/" + name
}

// isBatch: batch requests carry "claims".
func (r *reply) isBatch() bool { _, ok := r.req["claims"]; return ok }

// success answers with the signature(s) of the request, or with the
// reason it could not be signed (signed false).
func (r *reply) success() (body []byte, signed bool) {
	if r.isBatch() {
		claims, err := r.signBatch()
		if err != nil {
			return r.failure([]string{err.Error()}), false
		}
		return r.batch(claims, nil), true
	}
	attr, sig, err := r.signSingle()
	if err != nil {
		return r.failure([]string{err.Error()}), false
	}
	return r.single(attr, sig, nil), true
}

// failure answers with errors and no signature.
func (r *reply) failure(errs []string) []byte {
	if r.isBatch() {
		return r.batch(nil, errs)
	}
	attr := "signed_claim"
	for k, signed := range signedAttributes {
		if _, ok := r.req[k]; ok {
			attr = signed
		}
	}
	return r.single(attr, nil, errs)
}

func (r *reply) single(attr string, sig any, errs []string) []byte {
	responded := time.Now()
	msg := map[string]any{}
	for _, k := range r.order {
		if _, isData := signedAttributes[k]; isData || k == "created" {
			continue
		}
		msg[k] = r.req[k]
	}
	if _, ok := msg["sig_keyname"]; !ok {
		msg["sig_keyname"] = ""
	}
	msg[r.s.opts.MessageIDKey] = r.id
	msg["errors"] = list(errs)
	msg["request_received_time"] = isoformat(r.received)
	msg["signature_type"] = signatureTypes[r.mtype]
	msg[attr] = sig
	msg["signing_server_requested"] = isoformat(r.received)
	msg["signing_server_responded"] = isoformat(responded)
	msg["signing_status"] = status(errs)
	return r.wrap(msg)
}

func (r *reply) batch(claims []pyjson.Object, errs []string) []byte {
	msg := map[string]any{}
	for _, k := range []string{"created", "requested_by"} {
		if v, ok := r.req[k]; ok {
			msg[k] = v
		}
	}
	if claims == nil {
		claims = []pyjson.Object{}
	}
	msg["claims"] = claims
	msg[r.s.opts.MessageIDKey] = r.id
	msg["errors"] = list(errs)
	msg["pub_task_id"] = r.taskID()
	msg["request_received_time"] = isoformat(r.received)
	msg["signing_server_average_time_secs"] = json.RawMessage(strconv.FormatFloat(time.Since(r.received).Seconds()/float64(max(len(claims), 1)), 'f', 6, 64))
	msg["signing_status"] = status(errs)
	return r.wrap(msg)
}

// taskID is the request's task id: pub_task_id (task_id_attribute) on
// single requests, pipeline_run_id on batch ones.
func (r *reply) taskID() json.RawMessage {
	for _, k := range []string{r.s.opts.TaskIDAttribute, "pub_task_id", "pipeline_run_id"} {
		if v, ok := r.req[k]; ok {
			return v
		}
	}
	return json.RawMessage(`""`)
}

// stray is a reply for a request nobody sent.
func (r *reply) stray(id string) []byte {
	return r.wrap(map[string]any{r.s.opts.MessageIDKey: id, "errors": []string{}, "signed_claim": "stray", "signing_status": statusSuccess})
}

// malformed is a reply cut off in the middle.
func (r *reply) malformed() []byte {
	b := r.wrap(map[string]any{r.s.opts.MessageIDKey: r.id, "errors": []string{}})
	return b[:len(b)/2]
}

// wrap puts msg (sorted) into the server's wrapper.
func (r *reply) wrap(msg map[string]any) []byte {
	keys := make([]string, 0, len(msg))
	for k := range msg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	body := make(pyjson.Object, 0, len(keys))
	for _, k := range keys {
		body = append(body, pyjson.Member{Key: k, Value: msg[k]})
	}
	now := time.Now()
	out, err := pyjson.Marshal(pyjson.Object{
		{Key: "i", Value: 1},
		{Key: "msg", Value: body},
		{Key: "msg_id", Value: fmt.Sprintf("%d-%s", now.Year(), uuid.NewString())},
		{Key: "timestamp", Value: json.RawMessage(strconv.FormatInt(now.Unix(), 10) + ".0")},
		{Key: "topic", Value: r.topic},
		{Key: "username", Value: r.s.username()},
	})
	if err != nil {
		return []byte(`{"i": 1, "msg": {"errors": ["emulator encode failure"], "signing_status": "failure"}}`)
	}
	return out
}

func (s *Server) username() string {
	if s.opts.Username != "" {
		return s.opts.Username
	}
	return DefaultUsername
}

// signSingle signs a single request's data attribute.
func (r *reply) signSingle() (string, string, error) {
	for attr, signedAttr := range signedAttributes {
		raw, ok := r.req[attr]
		if !ok {
			continue
		}
		data, err := base64Field(raw, attr)
		if err != nil {
			return "", "", err
		}
		var sig []byte
		switch attr {
		case "claim_file":
			sig, err = r.s.key.SignMessage(data)
		case "data":
			sig, err = r.s.key.ClearSign(data)
		default:
			sig, err = r.s.key.DetachSign(data)
		}
		if err != nil {
			return "", "", fmt.Errorf("sign %s: %v", attr, err)
		}
		return signedAttr, base64.StdEncoding.EncodeToString(sig), nil
	}
	return "", "", fmt.Errorf("request (%s) carries no claim_file, data, artifact or claims", r.mtype)
}

// signBatch signs every claim once per key name it asks for, keeping the
// claims in request order.
func (r *reply) signBatch() ([]pyjson.Object, error) {
	var claims []struct {
		ClaimFile      json.RawMessage `json:"claim_file"`
		SigKeyNames    []string        `json:"sig_keynames"`
		ManifestDigest json.RawMessage `json:"manifest_digest"`
		Repo           json.RawMessage `json:"repo"`
	}
	if err := json.Unmarshal(r.req["claims"], &claims); err != nil {
		return nil, fmt.Errorf("claims is not a list of claim objects")
	}
	out := make([]pyjson.Object, 0, len(claims))
	for i, c := range claims {
		data, err := base64Field(c.ClaimFile, fmt.Sprintf("claims[%d].claim_file", i))
		if err != nil {
			return nil, err
		}
		signed := pyjson.Object{}
		for _, name := range c.SigKeyNames {
			sig, err := r.s.key.SignMessage(data)
			if err != nil {
				return nil, err
			}
			signed = signed.Set(name, base64.StdEncoding.EncodeToString(sig))
		}
		out = append(out, pyjson.Object{
			{Key: "claim_file", Value: c.ClaimFile},
			{Key: "manifest_digest", Value: c.ManifestDigest},
			{Key: "repo", Value: c.Repo},
			{Key: "signed_claims", Value: signed},
		})
	}
	return out, nil
}

func base64Field(raw json.RawMessage, name string) ([]byte, error) {
	var b64 string
	if err := json.Unmarshal(raw, &b64); err != nil {
		return nil, fmt.Errorf("%s is not a string", name)
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64: %v", name, err)
	}
	return data, nil
}

// isoformat is Python's datetime.isoformat() of a naive UTC time, as the
// server writes its times: no zone, microseconds unless they are zero.
func isoformat(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}

func status(errs []string) string {
	if len(errs) > 0 {
		return statusFailure
	}
	return statusSuccess
}

func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

package config_test

import (
	"errors"
	"fmt"

	"github.com/sethvargo/go-envconfig"

	"github.com/release-engineering/pubtools-sign-go/config"
)

// Parse fills what the file leaves out with defaults, lets PUBTOOLS_SIGN_*
// variables override it and validates.
func ExampleParse() {
	yaml := []byte(`
msg_signer:
  messaging_brokers: [amqp://broker-01:5672]
  topic_send_to: topic://VirtualTopic.eng.robosignatory.{env}.sign
  topic_listen_to: topic://VirtualTopic.eng.robosignatory.{env}.client
  environment: prod
  service: pubtools-sign
  message_id_key: request_id
`)
	env := envconfig.MapLookuper(map[string]string{"PUBTOOLS_SIGN_MSG_SIGNER_TIMEOUT": "30"})
	f, err := config.Parse(yaml, "conf.yaml", env)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := f.MsgSigner
	fmt.Println(m.Timeout, m.Retries, m.SendWindow, m.ConnectTimeout)
	// Output: 30 3 256 10s
}

// A mistake is a *config.Error naming the file and the key.
func ExampleParse_error() {
	_, err := config.Parse([]byte("msg_signer:\n  timeout: soon\n"), "conf.yaml", envconfig.MapLookuper(nil))
	var cfgErr *config.Error
	fmt.Println(errors.As(err, &cfgErr), cfgErr.File, cfgErr.Key)
	// Output: true conf.yaml msg_signer.timeout
}

module github.com/release-engineering/pubtools-sign-go

go 1.26.8

require (
	github.com/google/uuid v1.6.0
	github.com/sethvargo/go-envconfig v1.4.3
	github.com/stretchr/testify v1.12.1
	go.yaml.in/yaml/v3 v3.0.6
)

require github.com/Azure/go-amqp v1.7.0

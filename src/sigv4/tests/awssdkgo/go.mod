module ozfs/sigv4/awssdkgo

go 1.20

require github.com/aws/aws-sdk-go v1.55.8

require github.com/jmespath/go-jmespath v0.4.0 // indirect

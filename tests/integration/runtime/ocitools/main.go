// ocitools: the OCI runtime-tools library (Debian's golang-github-opencontainers-runtime-tools-dev)
// as two small commands for tests/integration/runtime/test_ocitools.py:
//
//	ocitools validate BUNDLE   check BUNDLE/config.json with runtime-tools' validator
//	ocitools generate BUNDLE ROOTFS ID ARG...   write runtime-tools' default Linux config
//
// runtime-tools' validation *suite* (validation/*, runtimetest) is not in the Debian package,
// so this is what can be built offline: the config validator and the config generator.
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build (no network).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-multierror"
	"github.com/opencontainers/runtime-tools/generate"
	"github.com/opencontainers/runtime-tools/validate"
	"github.com/xeipuuv/gojsonschema"
)

// The JSON Schema of the spec, as Debian ships it (CheckJSONSchema would fetch it from the web).
const schema = "/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema/config-schema.json"

func validateBundle(bundle string) error {
	v, err := validate.NewValidatorFromPath(bundle, true, "linux")
	if err != nil {
		return err
	}
	var errs *multierror.Error
	result, err := gojsonschema.Validate(gojsonschema.NewReferenceLoader("file://"+schema),
		gojsonschema.NewReferenceLoader("file://"+filepath.Join(bundle, "config.json")))
	if err != nil {
		return err
	}
	for _, e := range result.Errors() {
		errs = multierror.Append(errs, fmt.Errorf("schema: %s", e))
	}
	// Every check of CheckAll but two: CheckJSONSchema (done above, offline) and CheckSemVer,
	// which only accepts the library's own spec version ("1.0.2-dev").
	for _, check := range []func() error{v.CheckPlatform, v.CheckRoot, v.CheckMandatoryFields, v.CheckMounts,
		v.CheckProcess, v.CheckLinux, v.CheckAnnotations, v.CheckHooks} {
		errs = multierror.Append(errs, check())
	}
	return errs.ErrorOrNil()
}

func generateBundle(bundle, rootfs, id string, args []string) error {
	g, err := generate.New("linux")
	if err != nil {
		return err
	}
	g.SetRootPath(rootfs)
	g.SetProcessArgs(args)
	g.SetProcessTerminal(false)
	g.SetLinuxCgroupsPath("/" + id)
	return g.SaveToFile(filepath.Join(bundle, "config.json"), generate.ExportOptions{})
}

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "validate":
		err = validateBundle(os.Args[2])
	case len(os.Args) >= 6 && os.Args[1] == "generate":
		err = generateBundle(os.Args[2], os.Args[3], os.Args[4], os.Args[5:])
	default:
		err = fmt.Errorf("usage: ocitools validate BUNDLE | generate BUNDLE ROOTFS ID ARG")
	}
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ok")
}

package cli

import (
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/logging"
)

// commonFlags are the flags every Python signing command has.
type commonFlags struct {
	signingKeys []string
	taskID      string
	configFile  string
	raw         bool
	logLevel    string
}

func (f *commonFlags) register(cmd *cobra.Command, taskIDRequired bool) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.signingKeys, "signing-key", nil, "8 characters key fingerprint of key which should be used for signing, or key alias (repeatable)")
	fl.StringVar(&f.taskID, "task-id", "", "Task id identifier (usually pub task-id)")
	fl.StringVar(&f.configFile, "config-file", config.SearchPaths[0], "path to the config file (falls back to "+strings.Join(config.SearchPaths, ", ")+")")
	fl.BoolVar(&f.raw, "raw", false, "Print raw output instead of json: the signed values, one per line")
	fl.StringVar(&f.logLevel, "log-level", "INFO", "Set log level: DEBUG, INFO, WARNING or ERROR")
	_ = cmd.MarkFlagRequired("signing-key")
	if taskIDRequired {
		_ = cmd.MarkFlagRequired("task-id")
	}
}

// setup reads the configuration and builds the logger (stderr: stdout is
// for the result).
func (f *commonFlags) setup(cmd *cobra.Command) (*config.File, *slog.Logger, error) {
	level, err := logging.ParseLevel(f.logLevel)
	if err != nil {
		return nil, nil, &exitError{code: ExitUsage, msg: "--log-level: " + err.Error()}
	}
	log := logging.New(cmd.ErrOrStderr(), level, "text")
	path, err := config.Find(f.configFile)
	if err != nil {
		return nil, nil, usageOrFailure(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, usageOrFailure(err)
	}
	return cfg, log, nil
}

// missingSection is the error for a command whose config section is absent.
func missingSection(cfg *config.File, section string) error {
	return &exitError{code: ExitUsage, msg: (&config.Error{File: cfg.Path, Key: section, Problem: "section missing"}).Error()}
}

// semver is the module version without its "v", or 0.0.0-dev for a
// development build (NATS micro requires SemVer).
func semver() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		v := strings.TrimPrefix(info.Main.Version, "v")
		if v != "" && v[0] >= '0' && v[0] <= '9' {
			return v
		}
	}
	return "0.0.0-dev"
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " (" + s.Value[:12] + ")"
		}
	}
	return v + " " + info.GoVersion
}

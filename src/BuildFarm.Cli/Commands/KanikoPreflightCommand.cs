using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using BuildFarm.Kaniko.Dockerfiles;

namespace BuildFarm.Cli.Commands;

/// <summary>
/// <c>buildfarm kaniko preflight DOCKERFILE [--format text|json] [--build-arg K=V]... [--context C]</c>:
/// checks a Dockerfile for what breaks Kaniko. Exit 1 when any finding is an error, 0 otherwise, 2 when the
/// command line is wrong or the file cannot be read (<c>-</c> reads stdin).
/// </summary>
public static class KanikoPreflightCommand
{
    public const int ExitClean = 0;
    public const int ExitErrors = 1;
    public const int ExitUsage = 2;

    public static Command Create(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var dockerfile = new Argument<string?>("DOCKERFILE")
        {
            Description = "The Dockerfile to check; '-' reads it from stdin.",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var format = new Option<string>("--format")
        {
            Description = "Output format: text (one line per finding and a summary) or json (one object).",
            DefaultValueFactory = _ => "text",
        };
        var buildArgs = new Option<string[]>("--build-arg")
        {
            Description = "A build arg as K=V (repeatable); K alone takes the value of the environment variable K, as Kaniko does.",
        };
        var context = new Option<string?>("--context")
        {
            Description = "The build context (git://…, https://…tar.gz, s3://…, gs://…, dir://…): dir:///workspace makes creating or writing into /workspace an error (a warning otherwise); git:// adds a warning.",
        };
        var command = new Command("preflight", "Check a Dockerfile for what breaks Kaniko (/workspace, /kaniko) and for floating base tags.")
        {
            dockerfile, format, buildArgs, context,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(parseResult =>
        {
            if (parseResult.UnmatchedTokens.Count > 0)
            {
                return Usage(io, $"unexpected argument(s): {string.Join(' ', parseResult.UnmatchedTokens)} (one DOCKERFILE per run)");
            }
            var path = parseResult.GetValue(dockerfile);
            if (string.IsNullOrEmpty(path))
            {
                return Usage(io, "DOCKERFILE is missing: pass a path, or '-' to read stdin");
            }
            var outputFormat = (parseResult.GetValue(format) ?? "text").ToLowerInvariant();
            if (outputFormat is not ("text" or "json"))
            {
                return Usage(io, $"--format '{outputFormat}' is not supported: use text or json");
            }
            var args = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in parseResult.GetValue(buildArgs) ?? [])
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                var key = equals < 0 ? pair : pair[..equals];
                if (key.Length == 0)
                {
                    return Usage(io, $"--build-arg '{pair}' has no name: use K=V");
                }
                var value = equals >= 0 ? pair[(equals + 1)..] : Environment.GetEnvironmentVariable(key);
                if (value is null)
                {
                    return Usage(io, $"--build-arg '{key}' has no value and no environment variable {key} is set: use {key}=V");
                }
                args[key] = value;
            }

            string text;
            try
            {
                text = path == "-" ? io.In.ReadToEnd() : File.ReadAllText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                io.Error.WriteLine($"buildfarm kaniko preflight: cannot read '{path}': {e.Message}");
                return ExitUsage;
            }

            var findings = DockerfilePreflight.Check(text, new PreflightOptions { BuildArgs = args, Context = parseResult.GetValue(context) });
            var name = path == "-" ? "stdin" : path;
            if (outputFormat == "json")
            {
                io.Out.WriteLine(ToJson(name, findings));
            }
            else
            {
                WriteText(io.Out, name, findings);
            }
            return findings.Any(f => f.Severity == PreflightSeverity.Error) ? ExitErrors : ExitClean;
        });
        return command;
    }

    private static int Usage(CliIO io, string message)
    {
        io.Error.WriteLine($"buildfarm kaniko preflight: {message}");
        return ExitUsage;
    }

    private static void WriteText(TextWriter output, string name, IReadOnlyList<PreflightFinding> findings)
    {
        foreach (var finding in findings)
        {
            var where = finding.Line > 0 ? $"{name}:{finding.Line}" : name;
            output.WriteLine($"{where}: {finding.SeverityText} {finding.Code}: {finding.Message}");
        }
        var errors = findings.Count(f => f.Severity == PreflightSeverity.Error);
        var warnings = findings.Count - errors;
        output.WriteLine($"{name}: {errors} error(s), {warnings} warning(s){(errors > 0 ? ": Kaniko would fail; fix the errors before building." : ".")}");
    }

    internal static string ToJson(string name, IReadOnlyList<PreflightFinding> findings)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("file", name);
            writer.WriteStartArray("findings");
            foreach (var finding in findings)
            {
                writer.WriteStartObject();
                writer.WriteNumber("line", finding.Line);
                writer.WriteString("severity", finding.SeverityText);
                writer.WriteString("code", finding.Code);
                if (finding.Reason is { } reason)
                {
                    writer.WriteString("reason", reason);
                }
                else
                {
                    writer.WriteNull("reason");
                }
                writer.WriteString("message", finding.Message);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            var errors = findings.Count(f => f.Severity == PreflightSeverity.Error);
            writer.WriteNumber("errors", errors);
            writer.WriteNumber("warnings", findings.Count - errors);
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}

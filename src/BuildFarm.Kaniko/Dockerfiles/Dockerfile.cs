namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>A parsed Dockerfile: parser directives, instructions in file order and the syntax problems found.</summary>
/// <param name="Directives">Parser directives (<c>syntax</c>, <c>escape</c>, <c>check</c>) by lower-case name.</param>
/// <param name="EscapeChar">The line-continuation and escape character (<c>\</c>, or <c>`</c> with <c># escape=`</c>).</param>
/// <param name="Instructions">Instructions in file order.</param>
/// <param name="Errors">Syntax problems (unknown instruction, unterminated here-document, bad directive).</param>
public sealed record Dockerfile(
    IReadOnlyDictionary<string, string> Directives,
    char EscapeChar,
    IReadOnlyList<DockerfileInstruction> Instructions,
    IReadOnlyList<DockerfileDiagnostic> Errors);

/// <summary>One instruction as written, after line continuations were joined and comments dropped.</summary>
/// <param name="Line">1-based line of the original file where the instruction starts.</param>
/// <param name="Keyword">Upper-case instruction name (<c>RUN</c>, <c>COPY</c>, …).</param>
/// <param name="Flags">Leading <c>--name=value</c> flags (<c>--from</c>, <c>--chown</c>, <c>--mount</c>, …) in order.</param>
/// <param name="Arguments">The text after the keyword and the flags, not yet variable-expanded.</param>
/// <param name="ExecForm">The JSON array when the arguments are a valid JSON exec form, otherwise null (shell form).</param>
/// <param name="Heredocs">Here-documents opened on the instruction line, with their bodies, in order.</param>
public sealed record DockerfileInstruction(
    int Line,
    string Keyword,
    IReadOnlyList<DockerfileFlag> Flags,
    string Arguments,
    IReadOnlyList<string>? ExecForm,
    IReadOnlyList<Heredoc> Heredocs)
{
    /// <summary>The value of the last flag named <paramref name="name"/> (without dashes); null when absent,
    /// empty for a flag given without a value (<c>--link</c>).</summary>
    public string? Flag(string name)
    {
        string? value = null;
        foreach (var flag in Flags)
        {
            if (string.Equals(flag.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                value = flag.Value ?? string.Empty;
            }
        }
        return value;
    }
}

/// <summary>An instruction flag such as <c>--from=build</c> (<see cref="Value"/> null for <c>--link</c>).</summary>
public sealed record DockerfileFlag(string Name, string? Value);

/// <summary>A here-document: <c>&lt;&lt;EOF</c>, <c>&lt;&lt;-EOF</c> (leading tabs stripped),
/// <c>&lt;&lt;"EOF"</c> / <c>&lt;&lt;'EOF'</c> (no expansion).</summary>
/// <param name="Delimiter">The word that ends the body (quotes removed).</param>
/// <param name="Body">The lines between the opener and the delimiter, each ending in a newline.</param>
/// <param name="Expand">False for a quoted delimiter: no variable expansion in the body.</param>
/// <param name="StripTabs">True for <c>&lt;&lt;-</c>: leading tabs were stripped.</param>
/// <param name="FileDescriptor">The digits before <c>&lt;&lt;</c> (<c>3&lt;&lt;EOF</c>), or null.</param>
/// <param name="BodyLine">1-based line of the first body line.</param>
public sealed record Heredoc(string Delimiter, string Body, bool Expand, bool StripTabs, int? FileDescriptor, int BodyLine);

/// <summary>A syntax or preflight problem tied to a line (0 = not tied to a Dockerfile line).</summary>
public sealed record DockerfileDiagnostic(int Line, string Code, string Message);

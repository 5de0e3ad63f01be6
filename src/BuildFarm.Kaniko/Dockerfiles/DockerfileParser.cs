using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>
/// Parses Dockerfile text the way BuildKit's parser (which Kaniko uses) reads it: parser directives at the top,
/// comments, line continuations with the escape character, here-documents, flags and JSON exec form.
/// Pure: never throws on bad input; problems become <see cref="Dockerfile.Errors"/>.
/// </summary>
public static partial class DockerfileParser
{
    /// <summary>Every instruction BuildKit and Kaniko know.</summary>
    public static IReadOnlySet<string> Keywords { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
        "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    };

    private static readonly HashSet<string> _flagKeywords = new(StringComparer.Ordinal) { "FROM", "RUN", "COPY", "ADD", "HEALTHCHECK" };
    private static readonly HashSet<string> _heredocKeywords = new(StringComparer.Ordinal) { "RUN", "COPY", "ADD" };
    private static readonly HashSet<string> _jsonKeywords = new(StringComparer.Ordinal) { "RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME" };

    [GeneratedRegex(@"^#\s*([A-Za-z][A-Za-z0-9]*)\s*=\s*(.+?)\s*$")]
    private static partial Regex DirectiveRegex();

    [GeneratedRegex(@"^([0-9]*)<<(-?)([^<]+)$")]
    private static partial Regex HeredocRegex();

    public static Dockerfile Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            text = text[1..];
        }
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        if (lines.Length > 0 && lines[^1].Length == 0)
        {
            lines = lines[..^1];
        }

        var errors = new List<DockerfileDiagnostic>();
        var directives = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var escape = '\\';
        var index = 0;

        // Parser directives: only at the very top, before any comment, blank line or instruction.
        for (; index < lines.Length; index++)
        {
            var match = DirectiveRegex().Match(lines[index].TrimStart().TrimEnd('\r'));
            if (!match.Success)
            {
                break;
            }
            var name = match.Groups[1].Value.ToLowerInvariant();
            var value = match.Groups[2].Value;
            if (name is not ("syntax" or "escape" or "check"))
            {
                break; // an ordinary comment: ends the directive section
            }
            if (directives.ContainsKey(name))
            {
                errors.Add(new(index + 1, PreflightCodes.InvalidDirective,
                    $"the parser directive '{name}' is given twice: keep only one '# {name}=…' line at the top of the file."));
                continue;
            }
            directives[name] = value;
            if (name == "escape")
            {
                if (value is "\\" or "`")
                {
                    escape = value[0];
                }
                else
                {
                    errors.Add(new(index + 1, PreflightCodes.InvalidDirective,
                        $"invalid escape directive '{value}': the escape character must be '\\' or '`'."));
                }
            }
        }

        var instructions = new List<DockerfileInstruction>();
        while (index < lines.Length)
        {
            var line = lines[index];
            var trimmed = line.TrimStart(' ', '\t');
            if (trimmed.Length == 0 || trimmed[0] == '#')
            {
                index++;
                continue;
            }

            var startLine = index + 1;
            var logical = new StringBuilder();
            var current = trimmed;
            index++;
            while (true)
            {
                if (EndsWithContinuation(current, escape, out var withoutEscape))
                {
                    logical.Append(withoutEscape);
                    // Continued: skip comment lines and empty lines inside the instruction.
                    while (index < lines.Length && IsCommentOrBlank(lines[index]))
                    {
                        index++;
                    }
                    if (index >= lines.Length)
                    {
                        break;
                    }
                    current = lines[index];
                    index++;
                    continue;
                }
                logical.Append(current);
                break;
            }

            var instruction = ParseInstruction(startLine, logical.ToString(), lines, ref index, errors);
            if (instruction is not null)
            {
                instructions.Add(instruction);
            }
        }

        return new Dockerfile(directives, escape, instructions, errors);
    }

    private static bool IsCommentOrBlank(string line)
    {
        var trimmed = line.TrimStart(' ', '\t');
        return trimmed.Length == 0 || trimmed[0] == '#';
    }

    private static bool EndsWithContinuation(string line, char escape, out string withoutEscape)
    {
        var end = line.TrimEnd(' ', '\t', '\r');
        // As BuildKit: the escape character continues the line unless it is itself escaped ("foo \\\\").
        if (end.Length > 0 && end[^1] == escape && (end.Length == 1 || end[^2] != escape))
        {
            withoutEscape = end[..^1];
            return true;
        }
        withoutEscape = line;
        return false;
    }

    private static DockerfileInstruction? ParseInstruction(
        int line, string logical, string[] lines, ref int index, List<DockerfileDiagnostic> errors)
    {
        logical = logical.TrimEnd(' ', '\t', '\r');
        var split = 0;
        while (split < logical.Length && !char.IsWhiteSpace(logical[split]))
        {
            split++;
        }
        var keyword = logical[..split].ToUpperInvariant();
        var rest = logical[split..].Trim();

        if (!Keywords.Contains(keyword))
        {
            errors.Add(new(line, PreflightCodes.UnknownInstruction,
                $"unknown instruction '{logical[..split]}': use one of {string.Join(", ", Keywords.Order(StringComparer.Ordinal))} (a continued line may be missing its '\\' at the end of the previous line)."));
            return null;
        }

        var flags = new List<DockerfileFlag>();
        if (_flagKeywords.Contains(keyword))
        {
            rest = ExtractFlags(rest, flags);
        }

        IReadOnlyList<string>? exec = null;
        if (_jsonKeywords.Contains(keyword) && rest.StartsWith('['))
        {
            exec = TryParseJsonArray(rest);
        }

        // Here-documents: RUN, COPY, ADD (also under ONBUILD), never in the JSON form. Their bodies follow the
        // instruction's last line, so they must be consumed here to keep later line numbers right.
        var heredocs = new List<Heredoc>();
        var heredocKeyword = keyword == "ONBUILD" ? FirstWord(rest).ToUpperInvariant() : keyword;
        if (_heredocKeywords.Contains(heredocKeyword) && exec is null && rest.Contains("<<", StringComparison.Ordinal))
        {
            foreach (var word in SplitRawWords(rest))
            {
                var match = HeredocRegex().Match(word);
                if (!match.Success)
                {
                    continue;
                }
                var delimiter = match.Groups[3].Value;
                // Any quoting in the delimiter (<<"EOF", <<'EOF', <<E"OF") turns expansion off.
                var expand = delimiter.IndexOfAny(['"', '\'']) < 0;
                delimiter = delimiter.Replace("\"", "", StringComparison.Ordinal).Replace("'", "", StringComparison.Ordinal);
                if (delimiter.Length == 0)
                {
                    continue;
                }
                var stripTabs = match.Groups[2].Value == "-";
                // Only ASCII digits name a descriptor; one too large for an int is not one (a fuzzed 99999999999<<EOF).
                int? fd = int.TryParse(match.Groups[1].Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) ? number : null;
                var bodyLine = index + 1;
                var body = new StringBuilder();
                var terminated = false;
                while (index < lines.Length)
                {
                    var bodyText = lines[index].TrimEnd('\r');
                    index++;
                    if (stripTabs)
                    {
                        bodyText = bodyText.TrimStart('\t');
                    }
                    if (bodyText == delimiter)
                    {
                        terminated = true;
                        break;
                    }
                    body.Append(bodyText).Append('\n');
                }
                if (!terminated)
                {
                    errors.Add(new(line, PreflightCodes.UnterminatedHeredoc,
                        $"{keyword} opens the here-document <<{match.Groups[2].Value}{match.Groups[3].Value} but no line '{delimiter}' closes it: add a line holding only '{delimiter}' after its body."));
                }
                heredocs.Add(new Heredoc(delimiter, body.ToString(), expand, stripTabs, fd, bodyLine));
            }
        }

        return new DockerfileInstruction(line, keyword, flags, rest, exec, heredocs);
    }

    private static string FirstWord(string text)
    {
        var end = 0;
        while (end < text.Length && !char.IsWhiteSpace(text[end]))
        {
            end++;
        }
        return text[..end];
    }

    /// <summary>Strips leading <c>--name[=value]</c> flags (values may be quoted) and returns the remaining text.</summary>
    private static string ExtractFlags(string rest, List<DockerfileFlag> flags)
    {
        var position = 0;
        while (true)
        {
            while (position < rest.Length && char.IsWhiteSpace(rest[position]))
            {
                position++;
            }
            if (position + 2 >= rest.Length || rest[position] != '-' || rest[position + 1] != '-' || !char.IsLetter(rest[position + 2]))
            {
                return rest[position..];
            }
            var start = position + 2;
            var nameEnd = start;
            while (nameEnd < rest.Length && rest[nameEnd] != '=' && !char.IsWhiteSpace(rest[nameEnd]))
            {
                nameEnd++;
            }
            var name = rest[start..nameEnd];
            if (nameEnd >= rest.Length || rest[nameEnd] != '=')
            {
                flags.Add(new DockerfileFlag(name, null));
                position = nameEnd;
                continue;
            }
            var value = new StringBuilder();
            var i = nameEnd + 1;
            char quote = '\0';
            for (; i < rest.Length; i++)
            {
                var c = rest[i];
                if (quote != '\0')
                {
                    if (c == quote)
                    {
                        quote = '\0';
                    }
                    else
                    {
                        value.Append(c);
                    }
                }
                else if (c is '"' or '\'')
                {
                    quote = c;
                }
                else if (char.IsWhiteSpace(c))
                {
                    break;
                }
                else
                {
                    value.Append(c);
                }
            }
            flags.Add(new DockerfileFlag(name, value.ToString()));
            position = i;
        }
    }

    /// <summary>Splits on unquoted whitespace, keeping quotes in the words (used to find heredoc openers).</summary>
    internal static List<string> SplitRawWords(string text)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        char quote = '\0';
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quote != '\0')
            {
                word.Append(c);
                if (c == quote)
                {
                    quote = '\0';
                }
                else if (c == '\\' && quote == '"' && i + 1 < text.Length)
                {
                    word.Append(text[++i]);
                }
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                if (word.Length > 0)
                {
                    words.Add(word.ToString());
                    word.Clear();
                }
                continue;
            }
            if (c is '"' or '\'')
            {
                quote = c;
            }
            word.Append(c);
        }
        if (word.Length > 0)
        {
            words.Add(word.ToString());
        }
        return words;
    }

    /// <summary>A JSON array of strings, or null when <paramref name="text"/> is not one.</summary>
    internal static IReadOnlyList<string>? TryParseJsonArray(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return null;
            }
            var items = new List<string>();
            foreach (var element in document.RootElement.EnumerateArray())
            {
                if (element.ValueKind != JsonValueKind.String)
                {
                    return null;
                }
                items.Add(element.GetString()!);
            }
            return items;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

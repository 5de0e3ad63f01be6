using System.Text;

namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>A redirection: operator (<c>&gt;</c>, <c>&gt;&gt;</c>, <c>&lt;</c>, …) and its raw target word.</summary>
public sealed record ShellRedirect(string Operator, string Target);

/// <summary>One simple command of a POSIX shell script: raw words (quotes kept), redirections and the bodies of
/// here-documents it opened (<c>cat &lt;&lt;EOF &gt; f</c>).</summary>
public sealed record ShellCommand(IReadOnlyList<string> Words, IReadOnlyList<ShellRedirect> Redirects, IReadOnlyList<string> HeredocBodies);

/// <summary>
/// Splits POSIX shell text into simple commands: separators <c>&amp;&amp;</c>, <c>||</c>, <c>;</c>, <c>|</c>,
/// <c>&amp;</c>, newlines and parentheses; single and double quotes, backslash escapes and line continuations,
/// <c>$(…)</c>, <c>${…}</c> and backticks kept inside words; comments dropped; redirections and here-documents
/// split off. Words stay raw: expand them with <see cref="WordExpander"/>.
/// </summary>
public static class ShellScript
{
    public static IReadOnlyList<ShellCommand> Split(string script)
    {
        ArgumentNullException.ThrowIfNull(script);
        var commands = new List<ShellCommand>();
        var built = new List<(List<string> Words, List<ShellRedirect> Redirects, List<string> Bodies)>();
        var words = new List<string>();
        var redirects = new List<ShellRedirect>();
        var bodies = new List<string>();
        var pendingHeredocs = new List<(string Delimiter, bool StripTabs, List<string> Bodies)>();
        var position = 0;

        void EndCommand()
        {
            if (words.Count > 0 || redirects.Count > 0)
            {
                built.Add((words, redirects, bodies));
            }
            words = [];
            redirects = [];
            bodies = [];
        }

        while (position < script.Length)
        {
            var c = script[position];
            if (c is ' ' or '\t' or '\r')
            {
                position++;
                continue;
            }
            if (c == '\\' && position + 1 < script.Length && script[position + 1] == '\n')
            {
                position += 2;
                continue;
            }
            if (c == '#')
            {
                while (position < script.Length && script[position] != '\n')
                {
                    position++;
                }
                continue;
            }
            if (c == '\n')
            {
                position++;
                foreach (var (delimiter, stripTabs, owner) in pendingHeredocs)
                {
                    owner.Add(ReadHeredocBody(script, ref position, delimiter, stripTabs));
                }
                pendingHeredocs.Clear();
                EndCommand();
                continue;
            }
            if (c is ';' or '|' or '(' or ')' || (c == '&' && !(position + 1 < script.Length && script[position + 1] == '>')))
            {
                position++;
                if (position < script.Length && (script[position] == c || (c == '|' && script[position] == '&')))
                {
                    position++; // && || ;; |&
                }
                EndCommand(); // here-document bodies still pending follow the next newline
                continue;
            }
            if (TryReadRedirect(script, ref position, out var op))
            {
                SkipBlanks(script, ref position);
                var target = ReadWord(script, ref position);
                if (op is "<<" or "<<-")
                {
                    var delimiter = WordExpander.Expand(target, _ => VariableLookup.Unset, '\\', shell: false) ?? target;
                    pendingHeredocs.Add((delimiter, op == "<<-", bodies));
                }
                redirects.Add(new ShellRedirect(op, target));
                continue;
            }
            words.Add(ReadWord(script, ref position));
        }
        foreach (var (delimiter, stripTabs, owner) in pendingHeredocs)
        {
            owner.Add(ReadHeredocBody(script, ref position, delimiter, stripTabs));
        }
        EndCommand();
        foreach (var (commandWords, commandRedirects, commandBodies) in built)
        {
            commands.Add(new ShellCommand(commandWords, commandRedirects, commandBodies));
        }
        return commands;
    }

    private static void SkipBlanks(string script, ref int position)
    {
        while (position < script.Length && script[position] is ' ' or '\t')
        {
            position++;
        }
    }

    private static string ReadHeredocBody(string script, ref int position, string delimiter, bool stripTabs)
    {
        var body = new StringBuilder();
        while (position < script.Length)
        {
            var end = script.IndexOf('\n', position);
            if (end < 0)
            {
                end = script.Length;
            }
            var line = script[position..end].TrimEnd('\r');
            position = Math.Min(end + 1, script.Length);
            if (stripTabs)
            {
                line = line.TrimStart('\t');
            }
            if (line == delimiter)
            {
                break;
            }
            body.Append(line).Append('\n');
        }
        return body.ToString();
    }

    private static bool TryReadRedirect(string script, ref int position, out string op)
    {
        var start = position;
        var i = position;
        while (i < script.Length && char.IsAsciiDigit(script[i]))
        {
            i++;
        }
        if (i < script.Length && script[i] == '&' && i == start && i + 1 < script.Length && script[i + 1] == '>')
        {
            i += 2;
            if (i < script.Length && script[i] == '>')
            {
                i++;
            }
            op = "&>";
            position = i;
            return true;
        }
        if (i >= script.Length || script[i] is not ('<' or '>'))
        {
            op = string.Empty;
            return false;
        }
        var opStart = i;
        var first = script[i++];
        if (i < script.Length)
        {
            var next = script[i];
            if (first == '<' && next == '<')
            {
                i++;
                if (i < script.Length && script[i] is '-' or '<')
                {
                    i++;
                }
            }
            else if (next == first || next is '&' or '|' || (first == '<' && next == '>'))
            {
                i++;
            }
        }
        op = script[opStart..i];
        position = i;
        return true;
    }

    /// <summary>Reads one raw word, quotes and expansions included.</summary>
    private static string ReadWord(string script, ref int position)
    {
        var start = position;
        while (position < script.Length)
        {
            var c = script[position];
            if (c is ' ' or '\t' or '\r' or '\n' or ';' or '&' or '|' or '(' or ')' or '<' or '>')
            {
                break;
            }
            switch (c)
            {
                case '\\':
                    position = Math.Min(position + 2, script.Length);
                    break;
                case '\'':
                    var close = script.IndexOf('\'', position + 1);
                    position = close < 0 ? script.Length : close + 1;
                    break;
                case '"':
                    position++;
                    while (position < script.Length && script[position] != '"')
                    {
                        if (script[position] == '\\')
                        {
                            position++;
                        }
                        else if (script[position] == '$' && position + 1 < script.Length && script[position + 1] == '(')
                        {
                            position++;
                            SkipBalanced(script, ref position);
                            continue;
                        }
                        position++;
                    }
                    position = Math.Min(position + 1, script.Length);
                    break;
                case '`':
                    position++;
                    while (position < script.Length && script[position] != '`')
                    {
                        position += script[position] == '\\' ? 2 : 1;
                    }
                    position = Math.Min(position + 1, script.Length);
                    break;
                case '$' when position + 1 < script.Length && script[position + 1] is '(' or '{':
                    position++;
                    SkipBalanced(script, ref position);
                    break;
                default:
                    position++;
                    break;
            }
        }
        return script[start..Math.Min(position, script.Length)];
    }

    /// <summary>At an opening '(' or '{': moves past its matching close, honouring quotes (also <see cref="WordExpander"/>'s <c>$(…)</c>).</summary>
    internal static void SkipBalanced(string script, ref int position)
    {
        var open = script[position];
        var close = open == '(' ? ')' : '}';
        var depth = 0;
        char quote = '\0';
        while (position < script.Length)
        {
            var c = script[position++];
            if (quote != '\0')
            {
                if (c == quote)
                {
                    quote = '\0';
                }
                else if (c == '\\' && quote == '"')
                {
                    position++;
                }
            }
            else if (c is '\'' or '"')
            {
                quote = c;
            }
            else if (c == '\\')
            {
                position++;
            }
            else if (c == open)
            {
                depth++;
            }
            else if (c == close && --depth == 0)
            {
                return;
            }
        }
    }
}

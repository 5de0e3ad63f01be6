using System.Text.RegularExpressions;

namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>A path a RUN command changes inside <c>/workspace</c> or <c>/kaniko</c>.</summary>
/// <param name="Action">What the command does to it: <c>creates</c>, <c>removes</c>, <c>moves</c>, <c>symlinks</c>, …</param>
/// <param name="Path">The absolute, normalised path.</param>
/// <param name="Root"><c>/workspace</c> or <c>/kaniko</c>.</param>
/// <param name="Command">The command, expanded, for the message.</param>
/// <param name="Replaces">The command removes, moves, symlinks or overwrites the directory <paramref name="Root"/>
/// itself, or creates it with <c>mkdir</c> without <c>-p</c> (which fails where it exists, as in Kaniko's container);
/// false when it creates or writes into it (<c>mkdir -p</c>, a file inside, <c>cp</c>, <c>chmod</c>, …).</param>
public sealed record RunConflict(string Action, string Path, string Root, string Command, bool Replaces);

/// <summary>
/// Finds RUN commands that create, replace, symlink, move, remove or write into <c>/workspace</c> or <c>/kaniko</c>.
/// Shell scripts are split into simple commands (<see cref="ShellScript"/>); wrappers (<c>sudo</c>, <c>env</c>,
/// <c>nohup</c>, <c>exec</c>…) and <c>sh -c "…"</c> are looked through; <c>cd</c> and plain assignments are followed;
/// paths are expanded statically and anything not static is skipped. Only commands that change the path count:
/// <c>echo</c>, <c>ls</c>, <c>cat</c>, <c>grep</c> and sources of <c>cp</c> are mere mentions.
/// </summary>
public static partial class RunCommandAnalyzer
{
    private const int MaxDepth = 6;

    private static readonly HashSet<string> _shells = new(StringComparer.Ordinal) { "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh" };

    private static readonly HashSet<string> _reserved = new(StringComparer.Ordinal)
    {
        "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "{", "}", "!", "[[",
    };

    [GeneratedRegex(@"^([A-Za-z_][A-Za-z0-9_]*)\+?=")]
    private static partial Regex AssignmentRegex();

    /// <summary>Analyzes a shell-form script run with the working directory <paramref name="cwd"/> (null: unknown).</summary>
    public static IReadOnlyList<RunConflict> AnalyzeShell(string script, VariableScope variables, string? cwd)
    {
        ArgumentNullException.ThrowIfNull(script);
        ArgumentNullException.ThrowIfNull(variables);
        var context = new Context(variables, cwd);
        var conflicts = new List<RunConflict>();
        AnalyzeScript(script, context, conflicts, 0);
        return conflicts;
    }

    /// <summary>Analyzes an exec-form command (<c>RUN ["mkdir", "/x"]</c>): words are literal, no shell expansion.</summary>
    public static IReadOnlyList<RunConflict> AnalyzeExec(IReadOnlyList<string> words, VariableScope variables, string? cwd)
    {
        ArgumentNullException.ThrowIfNull(words);
        ArgumentNullException.ThrowIfNull(variables);
        var context = new Context(variables, cwd);
        var conflicts = new List<RunConflict>();
        AnalyzeWords([.. words], [.. words], [], context, conflicts, 0);
        return conflicts;
    }

    private sealed class Context(VariableScope variables, string? cwd)
    {
        public Dictionary<string, VariableLookup> Locals { get; init; } = new(StringComparer.Ordinal);

        public VariableScope Variables { get; } = variables;

        public string? Cwd { get; set; } = cwd;

        public VariableLookup Lookup(string name) => Locals.TryGetValue(name, out var local) ? local : Variables.Lookup(name);

        /// <summary>How many more loop-body passes may be analyzed: nested static loops multiply, and a hostile
        /// Dockerfile must not make the check slow. Shared with child shells.</summary>
        public int[] LoopBudget { get; init; } = [4096];

        /// <summary>Names exported by the script (<c>export X=…</c>): a child shell sees them.</summary>
        public HashSet<string> Exported { get; init; } = new(StringComparer.Ordinal);

        /// <summary>A new shell process (<c>sh -c</c>): it sees ENV, ARG and exported names; other script
        /// variables are unset there, or set in its environment by the base image: unknown.</summary>
        public Context ChildShell() => new(Variables, Cwd)
        {
            Locals = Locals.ToDictionary(p => p.Key, p => Exported.Contains(p.Key) ? p.Value : VariableLookup.Unknown, StringComparer.Ordinal),
            Exported = new HashSet<string>(Exported, StringComparer.Ordinal),
            LoopBudget = LoopBudget,
        };
    }

    private static void AnalyzeScript(string script, Context context, List<RunConflict> conflicts, int depth)
    {
        if (depth > MaxDepth)
        {
            return;
        }
        var commands = ShellScript.Split(script);
        AnalyzeCommands(commands, 0, commands.Count, context, conflicts, depth);
    }

    private static void AnalyzeCommands(IReadOnlyList<ShellCommand> commands, int start, int end, Context context, List<RunConflict> conflicts, int depth)
    {
        for (var k = start; k < end; k++)
        {
            if (depth <= MaxDepth && StaticForLoop(commands, k, end, context) is { } loop
                && (context.LoopBudget[0] -= loop.Values.Count) >= 0)
            {
                // for d in /workspace /data; do mkdir -p "$d"; done: every value is known, so the body is
                // analyzed once per value, as the shell runs it (docker-library/php loops over directories so).
                foreach (var value in loop.Values)
                {
                    context.Locals[loop.Name] = VariableLookup.Of(value);
                    AnalyzeCommands(commands, k + 1, loop.Done, context, conflicts, depth + 1);
                }
                context.Locals[loop.Name] = VariableLookup.Unknown;
                k = loop.Done;
                continue;
            }
            AnalyzeCommand(commands[k], context, conflicts, depth);
        }
    }

    private const int MaxLoopValues = 32;

    /// <summary>A <c>for NAME in WORD…</c> whose words all expand statically (no glob, no command substitution,
    /// at most <see cref="MaxLoopValues"/>), with the index of its matching <c>done</c>; otherwise null (the loop
    /// variable is then unknown, as before).</summary>
    private static (string Name, List<string> Values, int Done)? StaticForLoop(IReadOnlyList<ShellCommand> commands, int index, int end, Context context)
    {
        var raw = commands[index].Words;
        var i = 0;
        while (i < raw.Count && _reserved.Contains(raw[i]))
        {
            i++;
        }
        if (raw.Count < i + 4 || raw[i] != "for" || raw[i + 2] != "in" || commands[index].Redirects.Count > 0
            || raw.Count - (i + 3) > MaxLoopValues)
        {
            return null;
        }
        var values = new List<string>();
        foreach (var word in raw.Skip(i + 3))
        {
            if (word.IndexOfAny(['*', '?', '[', '`']) >= 0 || word.Contains("$(", StringComparison.Ordinal)
                || ExpandShell(word, context) is not { } value)
            {
                return null;
            }
            values.Add(value);
        }
        var nesting = 0;
        for (var k = index + 1; k < end; k++)
        {
            var words = commands[k].Words;
            foreach (var word in words)
            {
                if (word is "for" or "while" or "until" or "select")
                {
                    nesting++;
                }
                else if (word == "done")
                {
                    if (nesting == 0)
                    {
                        return words.Count == 1 ? (raw[i + 1], values, k) : null;
                    }
                    nesting--;
                }
                if (!_reserved.Contains(word) && word is not ("for" or "while" or "until" or "select"))
                {
                    break; // only leading reserved words count; the rest of the command is arguments
                }
            }
        }
        return null;
    }

    private static string? ExpandShell(string raw, Context context) => WordExpander.Expand(raw, context.Lookup, '\\', shell: true);

    private static void AnalyzeCommand(ShellCommand command, Context context, List<RunConflict> conflicts, int depth)
    {
        var raw = command.Words;
        var expandedForMessage = string.Join(' ', raw.Concat(command.Redirects.Select(r => $"{r.Operator} {r.Target}")));
        foreach (var redirect in command.Redirects)
        {
            if (redirect.Operator.Contains('>', StringComparison.Ordinal) && !redirect.Operator.EndsWith('&'))
            {
                Check(ExpandShell(redirect.Target, context), "writes", true, context, conflicts, expandedForMessage);
            }
        }

        var i = 0;
        while (i < raw.Count && _reserved.Contains(raw[i]))
        {
            i++;
        }
        if (i >= raw.Count)
        {
            return;
        }
        if (raw[i] is "for" or "select")
        {
            if (i + 1 < raw.Count)
            {
                context.Locals[raw[i + 1]] = VariableLookup.Unknown;
            }
            return;
        }
        if (raw[i] is "case" or "function" or "esac")
        {
            return;
        }
        var assignments = new List<(string Name, string? Value)>();
        while (i < raw.Count && AssignmentRegex().Match(raw[i]) is { Success: true } match)
        {
            assignments.Add((match.Groups[1].Value, ExpandShell(raw[i][match.Length..], context)));
            i++;
        }
        if (i >= raw.Count)
        {
            foreach (var (name, value) in assignments)
            {
                context.Locals[name] = VariableLookup.FromExpansion(value);
            }
            return;
        }
        var rest = raw.Skip(i).ToList();
        var words = rest.Select(w => ExpandShell(w, context)).ToList();
        AnalyzeWords(rest, words, command.HeredocBodies, context, conflicts, depth);
    }

    private static void AnalyzeShellInvocation(List<string?> words, IReadOnlyList<string> stdinBodies, Context context, List<RunConflict> conflicts, int depth)
    {
        var i = 1;
        var commandString = false;
        while (i < words.Count && words[i] is { } option)
        {
            if (option is "-o" or "+o" or "-O" or "+O")
            {
                i += 2;
                continue;
            }
            if (option.StartsWith("--", StringComparison.Ordinal))
            {
                i++;
                continue;
            }
            if (option.Length > 1 && (option[0] is '-' or '+'))
            {
                commandString |= option[0] == '-' && option.Contains('c', StringComparison.Ordinal);
                // "-euo pipefail": a cluster with o or O takes the next word as its argument.
                i += option.Contains('o', StringComparison.Ordinal) || option.Contains('O', StringComparison.Ordinal) ? 2 : 1;
                continue;
            }
            break;
        }
        if (commandString)
        {
            if (i < words.Count && words[i] is { } script)
            {
                AnalyzeScript(script, context.ChildShell(), conflicts, depth + 1);
            }
            return;
        }
        if (i >= words.Count)
        {
            foreach (var body in stdinBodies)
            {
                AnalyzeScript(body, context.ChildShell(), conflicts, depth + 1); // "sh <<EOF": the script comes on stdin
            }
        }
    }

    private static int SkipOptions(List<string?> words, int start, string[] withArgument, bool allowAssignments)
    {
        var i = start;
        while (i < words.Count && words[i] is { } word)
        {
            if (word == "--")
            {
                return i + 1;
            }
            if (word.StartsWith('-'))
            {
                i += withArgument.Contains(word) ? 2 : 1;
                continue;
            }
            if (allowAssignments && AssignmentRegex().IsMatch(word))
            {
                i++;
                continue;
            }
            break;
        }
        return i;
    }

    private static void Check(string? path, string action, bool replaces, Context context, List<RunConflict> conflicts, string command)
    {
        if (path is null || path.Length == 0)
        {
            return;
        }
        var resolved = ShellPaths.Resolve(path, context.Cwd);
        if (resolved is null || KanikoPaths.ProtectedRoot(resolved) is not { } root)
        {
            return;
        }
        if (!conflicts.Any(c => c.Action == action && c.Path == resolved))
        {
            conflicts.Add(new RunConflict(action, resolved, root, command.Length > 120 ? command[..117] + "..." : command, replaces && resolved == root));
        }
    }
}

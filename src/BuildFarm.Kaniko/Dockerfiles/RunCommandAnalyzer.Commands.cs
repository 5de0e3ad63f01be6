namespace BuildFarm.Kaniko.Dockerfiles;

public static partial class RunCommandAnalyzer
{
    // ---- per-command rules: which paths a known command writes, replaces or removes ------------------

    private static void AnalyzeWords(
        List<string> raw, List<string?> words, IReadOnlyList<string> stdinBodies, Context context, List<RunConflict> conflicts, int depth)
    {
        // Look through wrappers.
        while (words.Count > 0 && words[0] is { } first)
        {
            var skip = ShellPaths.BaseName(first) switch
            {
                "sudo" => SkipOptions(words, 1, ["-u", "-g", "-C", "-D", "-h", "-p", "-U", "-r", "-t", "-T"], allowAssignments: true),
                "env" => SkipOptions(words, 1, ["-u", "-C", "-S", "--unset", "--chdir"], allowAssignments: true),
                "nice" => SkipOptions(words, 1, ["-n"], allowAssignments: false),
                "nohup" or "exec" or "command" or "builtin" or "time" or "busybox" or "doas" => SkipOptions(words, 1, [], allowAssignments: false),
                "timeout" => SkipOptions(words, 1, ["-s", "-k"], allowAssignments: false) + 1,
                _ => 0,
            };
            if (skip == 0)
            {
                break;
            }
            skip = Math.Min(skip, words.Count);
            raw = raw[skip..];
            words = words[skip..];
        }
        if (words.Count == 0 || words[0] is not { } commandPath)
        {
            return;
        }
        var text = string.Join(' ', words.Select((w, k) => w ?? raw[k]));
        var name = ShellPaths.BaseName(commandPath);

        void Hit(string? path, string action, bool replaces = false) => Check(path, action, replaces, context, conflicts, text);

        switch (name)
        {
            case "export" or "local" or "declare" or "typeset" or "readonly":
                for (var k = 1; k < raw.Count; k++)
                {
                    if (AssignmentRegex().Match(raw[k]) is { Success: true } match)
                    {
                        context.Locals[match.Groups[1].Value] = VariableLookup.FromExpansion(ExpandShell(raw[k][match.Length..], context));
                        if (name == "export")
                        {
                            context.Exported.Add(match.Groups[1].Value);
                        }
                    }
                    else if (name == "export" && !raw[k].StartsWith('-'))
                    {
                        context.Exported.Add(raw[k]);
                    }
                }
                return;
            case "read":
                foreach (var variable in raw.Skip(1).Where(w => !w.StartsWith('-')))
                {
                    context.Locals[variable] = VariableLookup.Unknown;
                }
                return;
            case "unset":
                foreach (var variable in raw.Skip(1).Where(w => !w.StartsWith('-')))
                {
                    context.Locals[variable] = VariableLookup.Unset;
                }
                return;
            case "cd" or "pushd":
                var target = Parse(words, "", []).Operands.FirstOrDefault();
                context.Cwd = target is null || target == "-" ? null : ShellPaths.Resolve(target, context.Cwd);
                return;
        }

        if (_shells.Contains(name))
        {
            AnalyzeShellInvocation(words, stdinBodies, context, conflicts, depth);
            return;
        }

        switch (name)
        {
            case "mkdir":
            {
                var args = Parse(words, "m", ["--mode"]);
                var parents = args.Has("-p", "--parents");
                foreach (var operand in args.Operands)
                {
                    Hit(operand, "creates", replaces: !parents);
                }
                break;
            }
            case "rm" or "rmdir" or "unlink" or "shred":
                foreach (var operand in Parse(words, "", []).Operands)
                {
                    Hit(operand, "removes", replaces: true);
                }
                break;
            case "touch":
                foreach (var operand in Parse(words, "dtr", ["--date", "--reference"]).Operands)
                {
                    Hit(operand, "creates");
                }
                break;
            case "tee":
                foreach (var operand in Parse(words, "", []).Operands)
                {
                    Hit(operand, "writes", replaces: true);
                }
                break;
            case "ln":
            {
                var args = Parse(words, "tS", ["--target-directory", "--suffix"]);
                if (args.Option("-t", "--target-directory") is { } directory)
                {
                    Hit(directory, "creates links in");
                }
                else if (args.Operands.Count >= 2)
                {
                    Hit(args.Operands[^1], "symlinks", replaces: true);
                }
                else if (args.Operands.Count == 1 && args.Operands[0] is { } only)
                {
                    Hit(ShellPaths.BaseName(only), "symlinks", replaces: true);
                }
                break;
            }
            case "mv":
            {
                var args = Parse(words, "tS", ["--target-directory", "--suffix"]);
                foreach (var operand in args.Operands)
                {
                    Hit(operand, "moves", replaces: true);
                }
                Hit(args.Option("-t", "--target-directory"), "moves into");
                break;
            }
            case "cp" or "install" or "rsync" or "scp":
            {
                var args = name switch
                {
                    "install" => Parse(words, "mogtS", ["--mode", "--owner", "--group", "--target-directory", "--suffix"]),
                    "rsync" => Parse(words, "efT", ["--exclude", "--include", "--filter", "--exclude-from", "--include-from", "--rsh", "--chown", "--chmod", "--temp-dir", "--files-from", "--log-file", "--password-file"]),
                    "scp" => Parse(words, "cFiJloPS", []),
                    _ => Parse(words, "tS", ["--target-directory", "--suffix"]),
                };
                if (name == "install" && args.Has("-d", "--directory"))
                {
                    foreach (var operand in args.Operands)
                    {
                        Hit(operand, "creates");
                    }
                }
                else if (args.Option("-t", "--target-directory") is { } directory)
                {
                    Hit(directory, "copies into");
                }
                else if (args.Operands.Count >= 2 && !IsRemote(args.Operands[^1]))
                {
                    Hit(args.Operands[^1], "copies into");
                }
                break;
            }
            case "chmod" or "chown" or "chgrp":
            {
                var args = Parse(words, "", ["--reference"], chmodModes: name == "chmod");
                var targets = args.Has("--reference") ? args.Operands : args.Operands.Skip(1);
                var action = name == "chmod" ? "changes the permissions of" : "changes the ownership of";
                foreach (var operand in targets)
                {
                    Hit(operand, action);
                }
                break;
            }
            case "tar" or "bsdtar":
            {
                var tarWords = words.ToList();
                if (tarWords.Count > 1 && tarWords[1] is { Length: > 0 } bundle && char.IsAsciiLetter(bundle[0]) && bundle.All(char.IsAsciiLetter))
                {
                    tarWords[1] = "-" + bundle; // old-style "tar xzf file"
                }
                var args = Parse(tarWords, "fCbHKgLNTVX", ["--file", "--directory", "--files-from", "--exclude-from", "--owner", "--group", "--mode", "--transform"]);
                if (args.Has("-x", "--extract", "--get"))
                {
                    Hit(args.Option("-C", "--directory") ?? ".", "extracts into");
                }
                break;
            }
            case "unzip":
            {
                var args = Parse(words, "d", []);
                Hit(args.Option("-d") ?? ".", "extracts into");
                break;
            }
            case "git":
            {
                var clone = words.IndexOf("clone");
                if (clone < 0)
                {
                    break;
                }
                var args = Parse(words[clone..], "bocju", ["--branch", "--origin", "--config", "--depth", "--reference", "--separate-git-dir", "--jobs", "--upload-pack", "--template", "--shallow-since", "--shallow-exclude"]);
                if (args.Operands.Count >= 2)
                {
                    Hit(args.Operands[1], "clones into");
                }
                else if (args.Operands.Count == 1 && args.Operands[0] is { } repository)
                {
                    var directory = ShellPaths.BaseName(repository.TrimEnd('/'));
                    Hit(directory.EndsWith(".git", StringComparison.Ordinal) ? directory[..^4] : directory, "clones into");
                }
                break;
            }
            case "curl":
            {
                var args = Parse(words, "oHdXuAeEFKrTwxyzbcDQmCYUt", ["--output", "--output-dir", "--header", "--data", "--request", "--user", "--user-agent", "--referer", "--form", "--config", "--max-time", "--retry", "--connect-timeout", "--cacert", "--cert", "--key", "--proxy", "--write-out"]);
                var output = args.Option("-o", "--output");
                if (output is not null && output != "-")
                {
                    Hit(output, "downloads to", replaces: true);
                }
                Hit(args.Option("--output-dir"), "downloads into");
                break;
            }
            case "wget":
            {
                var args = Parse(words, "OPoaeUtTwQlAR", ["--output-document", "--directory-prefix", "--output-file", "--append-output", "--user-agent", "--header", "--tries", "--timeout", "--user", "--password"]);
                var output = args.Option("-O", "--output-document");
                if (output is not null && output != "-")
                {
                    Hit(output, "downloads to", replaces: true);
                }
                Hit(args.Option("-P", "--directory-prefix"), "downloads into");
                break;
            }
            case "find":
            {
                var removes = words.Contains("-delete");
                for (var k = 1; k < words.Count - 1 && !removes; k++)
                {
                    removes = words[k] is "-exec" or "-execdir" && words[k + 1] is { } executed && ShellPaths.BaseName(executed) is "rm" or "rmdir" or "unlink";
                }
                if (!removes)
                {
                    break;
                }
                for (var k = 1; k < words.Count && words[k] is { } path && !path.StartsWith('-') && path is not ("(" or "!"); k++)
                {
                    Hit(path, "removes files in", replaces: true);
                }
                break;
            }
            case "dd":
                foreach (var word in words.Skip(1))
                {
                    if (word is not null && word.StartsWith("of=", StringComparison.Ordinal))
                    {
                        Hit(word[3..], "writes", replaces: true);
                    }
                }
                break;
            case "useradd":
            {
                var args = Parse(words, "bcdefgGkKpsuRPZ", ["--base-dir", "--comment", "--home-dir", "--expiredate", "--inactive", "--gid", "--groups", "--skel", "--key", "--password", "--shell", "--uid", "--root", "--prefix", "--selinux-user"]);
                if (args.Has("-m", "--create-home"))
                {
                    Hit(args.Option("-d", "--home-dir"), "creates the home directory");
                }
                break;
            }
            case "adduser":
            {
                var args = Parse(words, "hgsGuk", ["--home", "--shell", "--gecos", "--ingroup", "--uid", "--gid", "--firstuid", "--lastuid", "--conf", "--comment"]);
                if (!args.Has("-H", "--no-create-home"))
                {
                    Hit(args.Option("-h", "--home"), "creates the home directory");
                }
                break;
            }
        }
    }

    private static bool IsRemote(string? operand)
    {
        if (operand is null)
        {
            return false;
        }
        var colon = operand.IndexOf(':', StringComparison.Ordinal);
        var slash = operand.IndexOf('/', StringComparison.Ordinal);
        return colon > 0 && (slash < 0 || colon < slash);
    }
}

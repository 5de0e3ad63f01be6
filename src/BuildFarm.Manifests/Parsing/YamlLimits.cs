using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace BuildFarm.Manifests.Parsing;

/// <summary>
/// Bounds on a manifest's YAML, checked on YamlDotNet's event stream before any node is built (the node builder and node
/// hashing recurse: a self-containing key or 40,000 nested '[' overflow the stack, an alias chain used as a key pins a
/// core). A manifest never needs deep nesting, complex keys or many aliases, so those are refused.
/// </summary>
public sealed record YamlLimits
{
    public static YamlLimits Default { get; } = new();

    /// <summary>Longest manifest text, in characters.</summary>
    public int MaxChars { get; init; } = 4 * 1024 * 1024;

    /// <summary>Deepest nesting of lists and mappings (a manifest uses 5).</summary>
    public int MaxDepth { get; init; } = 32;

    /// <summary>Most nodes (scalars, lists, mappings, aliases) as written.</summary>
    public int MaxNodes { get; init; } = 200_000;

    /// <summary>Most aliases (<c>*name</c>).</summary>
    public int MaxAliases { get; init; } = 1_000;

    /// <summary>Most nodes once every alias is expanded (what a reader of the document visits).</summary>
    public long MaxExpandedNodes { get; init; } = 200_000;
}

/// <summary>The first limit a YAML text breaks, found on its event stream (iterative, no node built).</summary>
internal static class YamlPreScan
{
    private sealed class Frame(bool isMapping, string? anchor)
    {
        public bool IsMapping { get; } = isMapping;
        public string? Anchor { get; } = anchor;
        public bool ExpectKey { get; set; } = true;
        public long Expanded { get; set; } = 1;
    }

    /// <summary>(where, what) of the first violation; null when the text is within the limits, or when it is not valid
    /// YAML (the caller's parser reports that).</summary>
    public static (Mark At, string Problem)? Check(string yaml, YamlLimits limits)
    {
        if (yaml.Length > limits.MaxChars)
        {
            return (Mark.Empty, $"the manifest is {yaml.Length} characters long, over the limit of {limits.MaxChars}");
        }
        var parser = new Parser(new StringReader(yaml));
        var stack = new List<Frame>();
        var anchors = new Dictionary<string, long>(StringComparer.Ordinal);
        long nodes = 0, aliases = 0, expanded = 0;
        try
        {
            while (parser.MoveNext())
            {
                var current = parser.Current!;
                if (current is DocumentStart)
                {
                    anchors.Clear();
                    continue;
                }
                if (current is MappingEnd or SequenceEnd)
                {
                    var done = stack[^1];
                    stack.RemoveAt(stack.Count - 1);
                    if (done.Anchor is not null)
                    {
                        anchors[done.Anchor] = done.Expanded;
                    }
                    if (stack.Count > 0)
                    {
                        stack[^1].Expanded += done.Expanded;
                    }
                    continue;
                }
                // An alias is not a NodeEvent in YamlDotNet, but it stands for a node all the same.
                if (current is not (NodeEvent or AnchorAlias))
                {
                    continue;
                }
                if (stack.Count > 0 && stack[^1].IsMapping)
                {
                    var parent = stack[^1];
                    if (parent.ExpectKey && current is not Scalar)
                    {
                        return (current.Start, "a mapping key must be a plain string, not a list, a mapping or an alias");
                    }
                    parent.ExpectKey = !parent.ExpectKey;
                }
                if (++nodes > limits.MaxNodes)
                {
                    return (current.Start, $"more than {limits.MaxNodes} YAML nodes");
                }
                var anchor = current is NodeEvent { Anchor.IsEmpty: false } anchored ? anchored.Anchor.Value : null;
                long size;
                switch (current)
                {
                    case AnchorAlias alias:
                        if (++aliases > limits.MaxAliases)
                        {
                            return (current.Start, $"more than {limits.MaxAliases} aliases");
                        }
                        var name = alias.Value.Value;
                        if (stack.Any(f => f.Anchor == name))
                        {
                            return (current.Start, $"alias *{name} refers to a node that contains it");
                        }
                        if (!anchors.TryGetValue(name, out size))
                        {
                            // Refused here rather than left to the parser: YamlDotNet's document loader accepts an alias
                            // before its anchor and resolves it at the end, so it would still build whatever follows.
                            return (current.Start, $"alias *{name} has no anchor (&{name}) before it");
                        }
                        break;
                    case Scalar:
                        size = 1;
                        if (anchor is not null)
                        {
                            anchors[anchor] = 1;
                        }
                        break;
                    default:
                        if (stack.Count >= limits.MaxDepth)
                        {
                            return (current.Start, $"lists and mappings nested more than {limits.MaxDepth} deep");
                        }
                        stack.Add(new Frame(current is MappingStart, anchor));
                        size = 1;
                        break;
                }
                expanded += size;
                if (expanded > limits.MaxExpandedNodes)
                {
                    return (current.Start, $"more than {limits.MaxExpandedNodes} YAML nodes once aliases are expanded");
                }
                if (current is AnchorAlias or Scalar && stack.Count > 0)
                {
                    stack[^1].Expanded += size;
                }
            }
        }
        catch (Exception e) when (e is YamlException or InvalidOperationException)
        {
            // Not valid YAML: the parser proper reports where (ManifestParser.FirstSyntaxProblem).
            return null;
        }
        return null;
    }
}

using System.Collections.Immutable;

namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>What is statically known about a variable.</summary>
public enum VariableState
{
    /// <summary>It may hold anything (set by the base image, a RUN, an undeclared build arg…): never guess.</summary>
    Unknown,
    /// <summary>Known to be unset (an ARG without default and without a build arg).</summary>
    Unset,
    /// <summary>Known value.</summary>
    Set,
}

/// <summary>The result of looking a variable up.</summary>
public readonly record struct VariableLookup(VariableState State, string Value)
{
    public static VariableLookup Unknown { get; } = new(VariableState.Unknown, string.Empty);
    public static VariableLookup Unset { get; } = new(VariableState.Unset, string.Empty);
    public static VariableLookup Of(string value) => new(VariableState.Set, value);

    /// <summary>Known value for a static expansion result, Unknown for null.</summary>
    public static VariableLookup FromExpansion(string? value) => value is null ? Unknown : Of(value);
}

/// <summary>
/// Immutable ENV and ARG values in scope at one point of a stage. ENV wins over an ARG of the same name.
/// A name neither declared here nor known to be absent is <see cref="VariableState.Unknown"/> unless the
/// stage's whole environment is known (a stage built <c>FROM scratch</c>).
/// </summary>
public sealed class VariableScope
{
    private readonly ImmutableDictionary<string, VariableLookup> _env;
    private readonly ImmutableDictionary<string, VariableLookup> _args;

    private VariableScope(ImmutableDictionary<string, VariableLookup> env, ImmutableDictionary<string, VariableLookup> args, bool complete)
    {
        _env = env;
        _args = args;
        IsComplete = complete;
    }

    /// <summary>An empty scope; <paramref name="complete"/> says that undeclared names are known to be unset.</summary>
    public static VariableScope Empty(bool complete) =>
        new(ImmutableDictionary<string, VariableLookup>.Empty.WithComparers(StringComparer.Ordinal),
            ImmutableDictionary<string, VariableLookup>.Empty.WithComparers(StringComparer.Ordinal), complete);

    /// <summary>True when every variable is known (the stage's base is <c>scratch</c>).</summary>
    public bool IsComplete { get; }

    public IEnumerable<KeyValuePair<string, VariableLookup>> Env => _env;

    public IEnumerable<KeyValuePair<string, VariableLookup>> Args => _args;

    public VariableLookup Lookup(string name)
    {
        if (_env.TryGetValue(name, out var env))
        {
            return env;
        }
        if (_args.TryGetValue(name, out var arg))
        {
            return arg;
        }
        return IsComplete ? VariableLookup.Unset : VariableLookup.Unknown;
    }

    public VariableScope WithEnv(string name, VariableLookup value) => new(_env.SetItem(name, value), _args, IsComplete);

    public VariableScope WithArg(string name, VariableLookup value) => new(_env, _args.SetItem(name, value), IsComplete);

    /// <summary>The ENV part only, for a stage that starts <c>FROM</c> this one (ARGs do not carry over).</summary>
    public VariableScope EnvOnly() => new(_env, _args.Clear(), IsComplete);
}

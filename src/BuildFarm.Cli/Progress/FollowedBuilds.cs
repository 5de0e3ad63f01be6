using BuildFarm.Status;

namespace BuildFarm.Cli.Progress;

/// <summary>
/// The latest record of each build being followed (a batch's members or single builds), from a first read and then
/// live changes. Older versions of a record are ignored, so reads and streams may overlap or arrive out of order.
/// </summary>
public sealed class FollowedBuilds
{
    private readonly Lock _lock = new();
    private readonly List<string> _order = [];
    private readonly Dictionary<string, BuildRecord> _builds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);

    /// <summary>Follows the builds named by <paramref name="members"/> (image name → build id), in that order.</summary>
    public FollowedBuilds(IEnumerable<BatchMember> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        foreach (var member in members)
        {
            if (!_names.ContainsKey(member.BuildId))
            {
                _order.Add(member.BuildId);
                _names[member.BuildId] = member.Name;
            }
        }
    }

    /// <summary>The build ids followed, in order.</summary>
    public IReadOnlyList<string> BuildIds
    {
        get { lock (_lock) { return [.. _order]; } }
    }

    /// <summary>Takes <paramref name="record"/> if it is a build followed and newer than the one held; true when taken.</summary>
    public bool Apply(BuildRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        lock (_lock)
        {
            if (!_names.ContainsKey(record.BuildId))
            {
                return false;
            }
            if (_builds.TryGetValue(record.BuildId, out var held) && held.Version >= record.Version)
            {
                return false;
            }
            _builds[record.BuildId] = record;
            return true;
        }
    }

    /// <summary>The image name of a build (its batch member name, else the record's name, else the build id).</summary>
    public string NameOf(string buildId)
    {
        lock (_lock)
        {
            return _names.TryGetValue(buildId, out var name) && !string.IsNullOrEmpty(name) ? name
                : _builds.TryGetValue(buildId, out var r) && !string.IsNullOrEmpty(r.Name) ? r.Name! : buildId;
        }
    }

    /// <summary>The latest records, in order; builds not seen yet are absent.</summary>
    public IReadOnlyList<BuildRecord> Builds
    {
        get
        {
            lock (_lock)
            {
                return [.. _order.Where(_builds.ContainsKey).Select(id => _builds[id])];
            }
        }
    }

    /// <summary>True once every build followed has a record in a final state.</summary>
    public bool AllFinal
    {
        get
        {
            lock (_lock)
            {
                return _order.All(id => _builds.TryGetValue(id, out var r) && r.State.IsFinal());
            }
        }
    }

    /// <summary>True when every build followed succeeded.</summary>
    public bool AllSucceeded
    {
        get
        {
            lock (_lock)
            {
                return _order.All(id => _builds.TryGetValue(id, out var r) && r.State == BuildState.Succeeded);
            }
        }
    }

    public int Count(BuildState state)
    {
        lock (_lock)
        {
            return _builds.Values.Count(r => r.State == state);
        }
    }

    public int Total
    {
        get { lock (_lock) { return _order.Count; } }
    }
}

using k8s.Models;

namespace BuildFarm.ClusterSim.Api;

/// <summary>A parsed <c>labelSelector</c>: every requirement must hold.</summary>
public sealed class LabelSelector
{
    private enum Op
    {
        Equals,
        NotEquals,
        In,
        NotIn,
        Exists,
        DoesNotExist,
    }

    private sealed record Requirement(string Key, Op Op, IReadOnlyList<string> Values);

    private readonly List<Requirement> _requirements;

    private LabelSelector(List<Requirement> requirements) => _requirements = requirements;

    public static LabelSelector Everything { get; } = new([]);

    /// <summary>Parses <c>a=b,c!=d,e in (f,g),h notin (i),j,!k</c>; throws 400 BadRequest naming the bad part.</summary>
    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }
        var requirements = new List<Requirement>();
        foreach (var raw in SplitTopLevel(text))
        {
            var term = raw.Trim();
            if (term.Length == 0)
            {
                throw SimApiException.BadRequest($"unable to parse requirement: found '', expected: identifier in labelSelector \"{text}\"");
            }
            requirements.Add(ParseTerm(term, text));
        }
        return new LabelSelector(requirements);
    }

    private static IEnumerable<string> SplitTopLevel(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '(': depth++; break;
                case ')': depth--; break;
                case ',' when depth == 0:
                    yield return text[start..i];
                    start = i + 1;
                    break;
                default: break;
            }
        }
        yield return text[start..];
    }

    private static Requirement ParseTerm(string term, string whole)
    {
        if (term.StartsWith('!'))
        {
            return new Requirement(Key(term[1..].Trim(), whole), Op.DoesNotExist, []);
        }
        var notin = term.IndexOf(" notin ", StringComparison.Ordinal);
        var @in = term.IndexOf(" in ", StringComparison.Ordinal);
        if (notin > 0 || @in > 0)
        {
            var isNot = notin > 0;
            var at = isNot ? notin : @in;
            var key = Key(term[..at].Trim(), whole);
            var set = term[(at + (isNot ? 7 : 4))..].Trim();
            if (!set.StartsWith('(') || !set.EndsWith(')'))
            {
                throw SimApiException.BadRequest($"unable to parse requirement: found '{set}', expected: '(' in labelSelector \"{whole}\"");
            }
            var values = set[1..^1].Split(',').Select(v => v.Trim()).Where(v => v.Length > 0).ToList();
            return new Requirement(key, isNot ? Op.NotIn : Op.In, values);
        }
        foreach (var (token, op) in new[] { ("!=", Op.NotEquals), ("==", Op.Equals), ("=", Op.Equals) })
        {
            var i = term.IndexOf(token, StringComparison.Ordinal);
            if (i > 0)
            {
                return new Requirement(Key(term[..i].Trim(), whole), op, [term[(i + token.Length)..].Trim()]);
            }
        }
        return new Requirement(Key(term, whole), Op.Exists, []);
    }

    private static string Key(string key, string whole)
    {
        if (key.Length == 0 || key.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/')))
        {
            throw SimApiException.BadRequest($"unable to parse requirement: invalid label key \"{key}\" in labelSelector \"{whole}\"");
        }
        return key;
    }

    public bool Matches(IDictionary<string, string>? labels)
    {
        foreach (var r in _requirements)
        {
            string? value = null;
            var has = labels is not null && labels.TryGetValue(r.Key, out value);
            var ok = r.Op switch
            {
                Op.Exists => has,
                Op.DoesNotExist => !has,
                Op.Equals => has && value == r.Values[0],
                Op.NotEquals => !has || value != r.Values[0],
                Op.In => has && r.Values.Contains(value),
                Op.NotIn => !has || !r.Values.Contains(value),
                _ => false,
            };
            if (!ok)
            {
                return false;
            }
        }
        return true;
    }
}

/// <summary>A parsed <c>fieldSelector</c> for pods or events: <c>field=value</c>, <c>field==value</c>, <c>field!=value</c>.</summary>
public sealed class FieldSelector
{
    private readonly List<(string Field, bool Equal, string Value)> _terms;
    private readonly Func<object, string, string?> _read;

    private FieldSelector(List<(string, bool, string)> terms, Func<object, string, string?> read)
    {
        _terms = terms;
        _read = read;
    }

    private static readonly string[] s_podFields =
        ["metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
         "spec.serviceAccountName", "status.phase", "status.podIP", "status.nominatedNodeName"];

    private static readonly string[] s_eventFields =
        ["metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
         "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
         "reason", "reportingComponent", "source", "type"];

    public static FieldSelector Parse(string? text, string resource)
    {
        var known = resource == "pods" ? s_podFields : s_eventFields;
        Func<object, string, string?> read = resource == "pods" ? (o, f) => PodField((V1Pod)o, f) : (o, f) => EventField((Corev1Event)o, f);
        var terms = new List<(string, bool, string)>();
        if (!string.IsNullOrWhiteSpace(text))
        {
            foreach (var raw in text.Split(','))
            {
                var term = raw.Trim();
                var (i, len, equal) = term.IndexOf("!=", StringComparison.Ordinal) is var ne and > 0 ? (ne, 2, false)
                    : term.IndexOf("==", StringComparison.Ordinal) is var ee and > 0 ? (ee, 2, true)
                    : term.IndexOf('=', StringComparison.Ordinal) is var e and > 0 ? (e, 1, true)
                    : (-1, 0, true);
                if (i < 0)
                {
                    throw SimApiException.BadRequest($"invalid selector: '{text}'; can't understand '{term}'");
                }
                var field = term[..i].Trim();
                if (!known.Contains(field))
                {
                    throw SimApiException.BadRequest($"\"{field}\" is not a known field selector: only \"{string.Join("\", \"", known)}\"");
                }
                terms.Add((field, equal, term[(i + len)..].Trim()));
            }
        }
        return new FieldSelector(terms, read);
    }

    public bool Matches(object obj)
    {
        foreach (var (field, equal, value) in _terms)
        {
            var actual = _read(obj, field) ?? string.Empty;
            if ((actual == value) != equal)
            {
                return false;
            }
        }
        return true;
    }

    private static string? PodField(V1Pod p, string field) => field switch
    {
        "metadata.name" => p.Metadata.Name,
        "metadata.namespace" => p.Metadata.NamespaceProperty,
        "spec.nodeName" => p.Spec?.NodeName,
        "spec.restartPolicy" => p.Spec?.RestartPolicy,
        "spec.schedulerName" => p.Spec?.SchedulerName,
        "spec.serviceAccountName" => p.Spec?.ServiceAccountName,
        "status.phase" => p.Status?.Phase,
        "status.podIP" => p.Status?.PodIP,
        "status.nominatedNodeName" => p.Status?.NominatedNodeName,
        _ => null,
    };

    private static string? EventField(Corev1Event e, string field) => field switch
    {
        "metadata.name" => e.Metadata.Name,
        "metadata.namespace" => e.Metadata.NamespaceProperty,
        "involvedObject.kind" => e.InvolvedObject?.Kind,
        "involvedObject.namespace" => e.InvolvedObject?.NamespaceProperty,
        "involvedObject.name" => e.InvolvedObject?.Name,
        "involvedObject.uid" => e.InvolvedObject?.Uid,
        "involvedObject.apiVersion" => e.InvolvedObject?.ApiVersion,
        "involvedObject.resourceVersion" => e.InvolvedObject?.ResourceVersion,
        "involvedObject.fieldPath" => e.InvolvedObject?.FieldPath,
        "reason" => e.Reason,
        "reportingComponent" => e.ReportingComponent,
        "source" => e.Source?.Component,
        "type" => e.Type,
        _ => null,
    };
}

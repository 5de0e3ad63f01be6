using System.Diagnostics;
using System.Text;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

/// <summary>One rendered Kubernetes object.</summary>
public sealed record K8sObject(string Kind, string Name, string? Namespace, YamlMappingNode Node)
{
    public YamlNode? At(params string[] path)
    {
        YamlNode? node = Node;
        foreach (var key in path)
        {
            node = node switch
            {
                YamlMappingNode m when m.Children.TryGetValue(new YamlScalarNode(key), out var child) => child,
                YamlSequenceNode s when int.TryParse(key, out var i) && i < s.Children.Count => s.Children[i],
                _ => null,
            };
            if (node is null)
            {
                return null;
            }
        }
        return node;
    }

    public string? Scalar(params string[] path) => (At(path) as YamlScalarNode)?.Value;
}

/// <summary>Runs <c>kubectl kustomize</c> on a folder of deploy/ and parses what it prints.</summary>
public static class Kustomize
{
    public static string? KubectlPath => TestEnvironment.Kubectl;

    public static string RepoRoot => TestPaths.RepoRoot;

    private static readonly Dictionary<string, IReadOnlyList<K8sObject>> s_rendered = [];

    /// <summary>The objects of <paramref name="folder"/> (relative to deploy/), rendered once per test run.</summary>
    public static IReadOnlyList<K8sObject> Render(string folder)
    {
        lock (s_rendered)
        {
            if (!s_rendered.TryGetValue(folder, out var objects))
            {
                s_rendered[folder] = objects = Parse(Run(Path.Combine(RepoRoot, "deploy", folder)));
            }
            return objects;
        }
    }

    private static string Run(string path)
    {
        var info = new ProcessStartInfo(KubectlPath ?? throw new InvalidOperationException("kubectl is not installed"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add("kustomize");
        info.ArgumentList.Add(path);
        using var process = Process.Start(info) ?? throw new InvalidOperationException("kubectl did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"kubectl kustomize {path} did not finish within 60 s");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"kubectl kustomize {path} failed ({process.ExitCode}): {stderr.Result}");
        }
        return stdout.Result;
    }

    private static List<K8sObject> Parse(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var objects = new List<K8sObject>();
        foreach (var doc in stream.Documents)
        {
            if (doc.RootNode is not YamlMappingNode root)
            {
                continue;
            }
            var o = new K8sObject(string.Empty, string.Empty, null, root);
            objects.Add(o with
            {
                Kind = o.Scalar("kind") ?? throw new InvalidOperationException("a rendered object has no kind"),
                Name = o.Scalar("metadata", "name") ?? throw new InvalidOperationException("a rendered object has no name"),
                Namespace = o.Scalar("metadata", "namespace"),
            });
        }
        return objects;
    }
}

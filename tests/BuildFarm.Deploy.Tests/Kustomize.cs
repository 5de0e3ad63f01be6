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

    /// <summary>The production overlay plus one of deploy/components (and an optional patch), rendered from a folder of
    /// the test's own (relative paths: kustomize refuses absolute ones).</summary>
    public static IReadOnlyList<K8sObject> RenderWith(string component, string? patch = null)
    {
        var dir = Directory.CreateTempSubdirectory("buildfarm-component-");
        try
        {
            var production = Path.GetRelativePath(dir.FullName, Path.Combine(RepoRoot, "deploy", "overlays", "production"));
            var path = Path.GetRelativePath(dir.FullName, Path.Combine(RepoRoot, "deploy", "components", component));
            File.WriteAllText(Path.Combine(dir.FullName, "kustomization.yaml"),
                $"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {production}\ncomponents:\n  - {path}\n{patch}");
            return Render(dir.FullName);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string Run(string path)
    {
        var (code, stdout, stderr) = RunTool(KubectlPath ?? throw new InvalidOperationException("kubectl is not installed"), ["kustomize", path]);
        if (code != 0)
        {
            throw new InvalidOperationException($"kubectl kustomize {path} failed ({code}): {stderr}");
        }
        return stdout;
    }

    /// <summary>Runs a tool (kubectl, promtool) to its end, at most 60 s, and returns its exit code and output.</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunTool(string fileName, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{fileName} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', info.ArgumentList)} did not finish within 60 s");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
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

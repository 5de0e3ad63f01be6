using System.Globalization;
using System.Text;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Parsing;

namespace BuildFarm.Manifests;

/// <summary>Manifests that ship with the farm, for the demo, the docs and end-to-end tests.</summary>
public static class SampleManifests
{
    /// <summary>Number of images in <see cref="Chain30"/>.</summary>
    public const int ChainImageCount = 30;

    /// <summary>samples/monorepo.yaml: 20 images, a nightly base, language bases, services, two independent images.</summary>
    public static Manifest Monorepo() => ManifestParser.Parse(MonorepoYaml(), "samples/monorepo.yaml");

    public static string MonorepoYaml()
    {
        using var stream = typeof(SampleManifests).Assembly.GetManifestResourceStream("BuildFarm.Manifests.samples.monorepo.yaml")
            ?? throw new InvalidOperationException("samples/monorepo.yaml is not embedded in BuildFarm.Manifests");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The 30-image manifest of <see cref="ChainYaml"/>, parsed.</summary>
    public static Manifest Chain30(string registry = "registry.example.com") => ManifestParser.Parse(ChainYaml(registry), "chain30");

    /// <summary>
    /// A 30-image manifest five levels deep, for end-to-end tests: <c>chain-base</c>; 3 <c>lang-N</c> FROM it; 6 <c>lib-N</c>
    /// FROM a lang; 10 <c>svc-N</c> FROM a lib (and after a second lib, without a build arg); 8 <c>app-N</c> FROM a svc;
    /// 2 <c>tool-N</c> that depend on nothing. Every dependency passes its reference as <c>BASE_IMAGE</c>.
    /// Destinations: <c>&lt;registry&gt;/chain/&lt;name&gt;:{short_sha}</c>.
    /// </summary>
    public static string ChainYaml(string registry = "registry.example.com")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(registry);
        var yaml = new StringBuilder();
        yaml.Append(CultureInfo.InvariantCulture, $"""
            defaults:
              context: git://github.com/acme/chain.git#refs/heads/main
              destinations: ["{registry}/chain/{"{name}"}:{"{short_sha}"}"]
            images:
              - name: chain-base
                contextSubPath: base

            """);
        void Image(string name, string folder, string? from, string? after = null)
        {
            yaml.Append(CultureInfo.InvariantCulture, $"  - name: {name}\n    contextSubPath: {folder}\n");
            if (from is not null)
            {
                yaml.Append(CultureInfo.InvariantCulture, $"    dependsOn:\n      - {{ image: {from}, buildArg: BASE_IMAGE }}\n");
                if (after is not null)
                {
                    yaml.Append(CultureInfo.InvariantCulture, $"      - {after}\n");
                }
            }
        }
        for (var i = 0; i < 3; i++)
        {
            Image($"lang-{i}", $"lang/{i}", "chain-base");
        }
        for (var i = 0; i < 6; i++)
        {
            Image($"lib-{i}", $"lib/{i}", $"lang-{i % 3}");
        }
        for (var i = 0; i < 10; i++)
        {
            Image($"svc-{i}", $"svc/{i}", $"lib-{i % 6}", $"lib-{(i + 1) % 6}");
        }
        for (var i = 0; i < 8; i++)
        {
            Image($"app-{i}", $"app/{i}", $"svc-{i}");
        }
        for (var i = 0; i < 2; i++)
        {
            Image($"tool-{i}", $"tools/{i}", from: null);
        }
        return yaml.ToString();
    }
}

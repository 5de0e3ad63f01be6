using System.Collections.Concurrent;
using System.Net.Http.Headers;
using BuildFarm.Client;
using BuildFarm.Contracts;
using BuildFarm.Status;
using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Api.Tests;

/// <summary>
/// The real API host (Program.cs) in a TestServer with the in-memory bus and store, three API keys of one tenant
/// (<see cref="Tenant"/>; the admin key also has the admin scope) and a publish recorder, without the status consumers unless a test turns them on. Settings override or add configuration keys.
/// </summary>
public sealed class ApiFactory : WebApplicationFactory<BuildFarmApiHost>
{
    public const string AdminKey = "admin-key-0123456789abcdef";
    public const string ReaderKey = "reader-key-0123456789abcdef";
    public const string SubmitterKey = "submitter-key-0123456789abcdef";
    public const string Tenant = "team";

    private readonly Dictionary<string, string?> _settings;

    public ApiFactory(Dictionary<string, string?>? settings = null)
    {
        _settings = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["Api:Keys:admin:Key"] = AdminKey,
            ["Api:Keys:admin:Scopes"] = "submit,read,cancel,admin",
            ["Api:Keys:admin:Tenant"] = Tenant,
            ["Api:Keys:reader:Key"] = ReaderKey,
            ["Api:Keys:reader:Scopes"] = "read",
            ["Api:Keys:reader:Tenant"] = Tenant,
            ["Api:Keys:ci:Key"] = SubmitterKey,
            ["Api:Keys:ci:Scopes"] = "submit read",
            ["Api:Keys:ci:Tenant"] = Tenant,
            ["Bus:Transport"] = "InMemory",
            ["Api:SseHeartbeat"] = "00:00:01",
            // The API surface alone: tests change records themselves. FlowTests turn the status consumers on.
            ["Api:HostStatusConsumers"] = "false",
        };
        foreach (var (key, value) in settings ?? [])
        {
            _settings[key] = value;
        }
    }

    public PublishRecorder Published { get; } = new();

    public LogRecorder Logs { get; } = new();

    public IBuildStatusStore Store => Services.GetRequiredService<IBuildStatusStore>();

    /// <summary>An HttpClient with <paramref name="apiKey"/> as bearer token (none when null).</summary>
    public HttpClient Http(string? apiKey = AdminKey)
    {
        var http = CreateClient();
        if (apiKey is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
        return http;
    }

    public BuildFarmClient Client(string? apiKey = AdminKey, BuildFarmClientOptions? options = null) => new(CreateClient(), apiKey, options);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
        builder.ConfigureLogging(logging =>
        {
            logging.ClearProviders();
            logging.AddProvider(Logs);
        });
    }

    protected override IHost CreateHost(IHostBuilder builder)
    {
        var host = base.CreateHost(builder);
        host.Services.GetRequiredService<IBus>().ConnectPublishObserver(Published);
        return host;
    }
}

/// <summary>Every message the API's bus published (after the transport accepted it).</summary>
public sealed class PublishRecorder : IPublishObserver
{
    private readonly ConcurrentQueue<object> _messages = new();

    public IReadOnlyList<object> Messages => [.. _messages];

    public IReadOnlyList<T> Of<T>() => [.. _messages.OfType<T>()];

    public Task PrePublish<T>(PublishContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PostPublish<T>(PublishContext<T> context)
        where T : class
    {
        _messages.Enqueue(context.Message);
        return Task.CompletedTask;
    }

    public Task PublishFault<T>(PublishContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;
}

/// <summary>Keeps every log line the host writes (to check that keys are never logged).</summary>
public sealed class LogRecorder : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(LogRecorder owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}

/// <summary>Request bodies and waits shared by the tests.</summary>
public static class Samples
{
    public static BuildSpec Spec(string destination = "registry.example.com/team/app:1") => new()
    {
        Context = "git://github.com/acme/monorepo.git#main",
        ContextSubPath = "images/app",
        Destinations = [destination],
    };

    public static SubmitBuildRequest Build(string destination = "registry.example.com/team/app:1") => new() { Spec = Spec(destination) };

    /// <summary>base ← app ← web, and a lone tool.</summary>
    public static SubmitBatchRequest Batch() => new()
    {
        Source = "commit abc123",
        Images =
        [
            new BatchImageRequest { Name = "base", Spec = Spec("registry.example.com/team/base:1") },
            new BatchImageRequest { Name = "app", Spec = Spec("registry.example.com/team/app:1"), DependsOn = [new BatchDependency("base", "BASE_IMAGE")] },
            new BatchImageRequest { Name = "web", Spec = Spec("registry.example.com/team/web:1"), DependsOn = [new BatchDependency("app")] },
            new BatchImageRequest { Name = "tool", Spec = Spec("registry.example.com/team/tool:1") },
        ],
    };

    /// <summary>Applies a worker-like change to a build's record, as the status projector would.</summary>
    public static Task<BuildChange?> ChangeAsync(IBuildStatusStore store, string buildId, BuildState state, string kind, string? digest = null) =>
        store.UpdateBuildAsync(buildId, r => new BuildChange(r with { State = state, Digest = digest ?? r.Digest, Version = r.Version + 1, UpdatedAt = DateTimeOffset.UtcNow }, kind), CancellationToken.None);
}

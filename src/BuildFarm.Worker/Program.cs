using BuildFarm.Messaging.Hosting;
using BuildFarm.Worker.Hosting;

// Settings (appsettings.json) are read from the program's directory wherever it is started from.
var builder = WebApplication.CreateSlimBuilder(BuildFarmHost.WebOptions(args));
builder.AddBuildFarmWorker();
var app = builder.Build();
app.MapBuildFarmWorkerEndpoints();
return await BuildFarmHost.RunAsync(app, "buildfarm-worker", WorkerServiceCollectionExtensions.ConfigurationSettings);

using BuildFarm.Worker.Hosting;

var builder = WebApplication.CreateSlimBuilder(args);
builder.AddBuildFarmWorker();
var app = builder.Build();
app.MapBuildFarmWorkerEndpoints();
await app.RunAsync();

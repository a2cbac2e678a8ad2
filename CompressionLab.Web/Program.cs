using CompressionLab.Web;

var builder = WebApplication.CreateBuilder(args);
builder.AddCompressionLabWeb();

var app = builder.Build();
app.MapCompressionLabWeb();
app.Run();

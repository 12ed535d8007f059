-- CreateTable
CREATE TABLE "edge_routes" (
    "id" UUID NOT NULL,
    "host" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "methods" TEXT[],
    "public" BOOLEAN NOT NULL DEFAULT false,
    "api" TEXT,
    "scopes" TEXT[],
    "roles" TEXT[],
    "decide" TEXT,
    "login" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "edge_routes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "edge_route_version" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "version" BIGINT NOT NULL DEFAULT 0,
    "changed_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "edge_route_version_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "edge_routes_host_idx" ON "edge_routes"("host");

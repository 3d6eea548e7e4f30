from django.contrib.auth import views as auth_views
from django.urls import path

from voronka.web import views

app_name = "web"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/2fa/", views.login_otp, name="login-otp"),
    path("account/2fa/", views.totp_setup, name="totp-setup"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("search/", views.search, name="search"),
    path("healthz", views.healthz, name="healthz"),
    path("language/", views.set_language, name="set-language"),
    path("", views.home, name="home"),
]
